"""ReopenCustomerSession: closed -> open, rolling back what the close applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonSession
from simulator.talonone.service import achievements
from simulator.talonone.service.effects import rollbacks
from simulator.talonone.service.event_store import record_event
from simulator.talonone.service.loyalty.session_effects import on_session_change
from simulator.talonone.service.profile_store import get_profile
from simulator.talonone.service.sessions.store import require_session, save_session
from simulator.talonone.service.sessions.update import uncount_session


def reopen_session(db: Store, tenant: Tenant, now: datetime, integration_id: str) -> dict[str, Any]:
    """closed -> open: rollback effects for what the close applied (ReopenSessionResponse)."""
    stored = require_session(db, tenant.id, integration_id)
    if stored.state != "closed":
        raise TalonOneError(
            400,
            f"Only a closed customer session can be reopened (this one is {stored.state})",
            title="Invalid state transition",
            parameter="customerSessionId",
        )
    profile = get_profile(db, tenant.id, stored.profile_id) if stored.profile_id else None
    undo = rollbacks(stored.effects or [])
    extra = on_session_change(
        db,
        tenant.id,
        now,
        session_id=stored.integration_id,
        profile_id=stored.profile_id or None,
        previous_state="closed",
        state="open",
        effects=stored.effects or [],
        dry=False,
    )
    extra += achievements.roll_back_session(db, tenant.id, stored.integration_id)
    session = TalonSession.model_validate(stored.model_dump())
    session.state = "open"
    session.update_count = stored.update_count + 1
    session.updated = now
    uncount_session(db, tenant.id, session, profile)
    save_session(db, session, stored)
    record_event(
        db,
        tenant.id,
        now,
        event_type="talon_session_reopened",
        profile_id=session.profile_id,
        session_id=session.integration_id,
        effects=undo + extra,
    )
    db.flush()
    return {"effects": undo + extra}
