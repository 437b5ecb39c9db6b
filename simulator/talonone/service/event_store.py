"""Stored events: their ids, the built-in events that session updates and returns record, the
Event JSON. Below the use cases that record events (sessions, profiles, TrackEventV2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.ids import next_value
from simulator.core.store import Store
from simulator.talonone.models.core import TalonEvent

# Built once (TrackEventV2 stores one on every call): no ORM object, no flush.
INSERT_EVENT = fastsql.prepared(insert(TalonEvent.__table__))
EVENT_COLUMNS = tuple(column.key for column in TalonEvent.__table__.columns)


def new_event_id(db: Store, tenant_id: str) -> int:
    return next_value(db, tenant_id, "talonone.event")


def store_event(db: Store, values: dict[str, Any]) -> None:
    """INSERT one event, given every column (`EVENT_COLUMNS`) by name."""
    fastsql.execute(db, INSERT_EVENT, values)


def record_event(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    event_type: str,
    profile_id: str = "",
    session_id: str | None = None,
    store_integration_id: str | None = None,
    attributes: dict[str, Any] | None = None,
    effects: list[dict[str, Any]] | None = None,
    event_id: int | None = None,
) -> TalonEvent:
    event = TalonEvent(
        tenant_id=tenant_id,
        id=event_id if event_id is not None else new_event_id(db, tenant_id),
        type=event_type,
        profile_id=profile_id,
        session_id=session_id,
        store_integration_id=store_integration_id,
        attributes=attributes or {},
        effects=effects or [],
        created=now,
    )
    db.add(event)
    return event


def event_view(application_id: int, event: TalonEvent) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": event.id,
        "created": format_instant(event.created),
        "applicationId": application_id,
        "profileId": event.profile_id,
        "type": event.type,
        "attributes": event.attributes or {},
        "effects": event.effects or [],
    }
    if event.session_id:
        view["sessionId"] = event.session_id
    if event.store_integration_id:
        view["storeIntegrationId"] = event.store_integration_id
    return view
