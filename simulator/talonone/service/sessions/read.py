"""GetCustomerSession: one Core read by API key, effects answered as stored (the hot read path)."""

from __future__ import annotations

from typing import Any

from simulator.core import fastsql
from simulator.core.formats import JsonText
from simulator.talonone.service import campaigns
from simulator.talonone.service.sessions.store import SESSION_FOR_KEY
from simulator.talonone.service.sessions.views import session_view


def session_for_key(db: fastsql.Lease, api_key: str, integration_id: str) -> Any:
    """GetCustomerSession's row: the session with its tenant's id and rate quota, found by the
    tenant's API key (one Core read, no ORM object: the hot read path); None when the key or
    the session is unknown."""
    parameters = {"api_key": api_key, "integration_id": integration_id}
    return fastsql.execute(db, SESSION_FOR_KEY, parameters).first()


def session_answer(db: fastsql.Lease, row: Any) -> dict[str, Any]:
    """The GetCustomerSession body of that row (its effects answered as stored)."""
    config = campaigns.load_config(db, row.tenant_id)
    effects = row.effects if row.effects not in (None, "null") else "[]"
    return {"customerSession": session_view(config, row), "effects": JsonText(effects)}
