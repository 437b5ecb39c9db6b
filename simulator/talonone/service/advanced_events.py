"""Advanced events (`trackEventV3`, `getEventV3`): a custom event with a unique `integrationId`
(a second one with the same ID is a 409, nothing evaluated), optionally naming a closed session
(`connectedSessionId`) it relates to. The event itself is tracked as `trackEventV2` tracks one
(rules, effects, loyalty, achievements); `advancedEvent` in `responseContent` answers it as
`getEventV3` does."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.db import same_tenant
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.advanced_events import TalonAdvancedEvent
from simulator.talonone.models.core import TalonEvent
from simulator.talonone.parsing import expect_list, expect_object, expect_str, invalid
from simulator.talonone.service import campaigns, events
from simulator.talonone.service.sessions.store import get_session

V3_FIELDS = ("integrationId", "connectedSessionId")
V3_ONLY_CONTENT = "advancedEvent"


class EventFields(Protocol):
    """What the view reads of the event: a TalonEvent, or a row of ADVANCED_EVENT."""

    id: int
    created: datetime
    profile_id: str
    type: str
    attributes: dict[str, Any]
    effects: list[Any]
    store_integration_id: str | None


class AdvancedFields(Protocol):
    """What the view reads of the advanced event: a TalonAdvancedEvent, or a row of
    ADVANCED_EVENT."""

    integration_id: str
    connected_session_id: str | None


def advanced_view(
    application_id: int, event: EventFields, advanced: AdvancedFields
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": event.id,
        "created": format_instant(event.created),
        "applicationId": application_id,
        "profileId": event.profile_id,
        "type": event.type,
        "attributes": event.attributes or {},
        "integrationId": advanced.integration_id,
        "effects": event.effects or [],
    }
    if event.store_integration_id:
        view["storeIntegrationId"] = event.store_integration_id
    if advanced.connected_session_id:
        view["connectedSessionId"] = advanced.connected_session_id
    return view


def split_request(body: Any) -> tuple[dict[str, Any], str, str | None, bool]:
    """(the trackEventV2 body, integrationId, connectedSessionId, advancedEvent asked)."""
    body = dict(expect_object(body, ""))
    if "integrationId" not in body:
        raise invalid("/integrationId", "integrationId is required", "required")
    integration_id = expect_str(body.pop("integrationId"), "/integrationId", 1, 1000)
    connected = body.pop("connectedSessionId", None)
    if connected is not None:
        connected = expect_str(connected, "/connectedSessionId", 1, 1000)
    wanted = body.get("responseContent")
    asked = False
    if wanted is not None:
        wanted = expect_list(wanted, "/responseContent")
        if "event" in wanted:
            raise invalid("/responseContent", "event is not a responseContent of this endpoint")
        asked = V3_ONLY_CONTENT in wanted
        body["responseContent"] = [item for item in wanted if item != V3_ONLY_CONTENT]
    return body, integration_id, connected, asked


def track_advanced_event(
    db: Store, tenant: Tenant, now: datetime, body: Any, *, dry: bool
) -> dict[str, Any]:
    v2_body, integration_id, connected, asked = split_request(body)
    if db.get(TalonAdvancedEvent, (tenant.id, integration_id)) is not None:
        raise TalonOneError(
            409,
            f"An event with integrationId {integration_id!r} was already tracked",
            title="Conflict",
        )
    if connected is not None:
        session = get_session(db, tenant.id, connected)
        if session is None or session.state != "closed":
            raise invalid("/connectedSessionId", f"Session {connected} is not a closed session")
    # The event's id is needed for the mapping: asked for here, never answered (v3 has no
    # `event` in its responseContent).
    v2_body["responseContent"] = [*v2_body.get("responseContent", []), "event"]
    response = events.track_event(db, tenant, now, v2_body, dry=dry)
    event_view = response.pop("event")
    advanced = TalonAdvancedEvent(
        tenant_id=tenant.id,
        integration_id=integration_id,
        event_id=event_view["id"],
        connected_session_id=connected,
    )
    if not dry:
        db.add(advanced)
        db.flush()
    if asked:
        event = db.get(TalonEvent, (tenant.id, event_view["id"])) if not dry else None
        if event is None:  # a dry run stores nothing: the event as it would be
            response["advancedEvent"] = {
                **{k: v for k, v in event_view.items() if k != "sessionId"},
                "integrationId": integration_id,
                **({"connectedSessionId": connected} if connected else {}),
            }
        else:
            config = campaigns.load_config(db, tenant.id)
            response["advancedEvent"] = advanced_view(config.application_id, event, advanced)
    return response


ADVANCED = TalonAdvancedEvent.__table__
EVENTS = TalonEvent.__table__
# An advanced event with the event it tracked, by its integrationId (both tables' keys):
# built once, run on GetEventV3's read lease.
ADVANCED_EVENT = fastsql.prepared(
    select(
        ADVANCED.c.integration_id,
        ADVANCED.c.connected_session_id,
        *(
            EVENTS.c[name]
            for name in (
                "id",
                "created",
                "profile_id",
                "type",
                "attributes",
                "effects",
                "store_integration_id",
            )
        ),
    )
    .select_from(ADVANCED.join(EVENTS, same_tenant(EVENTS.c.id, ADVANCED.c.event_id)))
    .where(
        ADVANCED.c.tenant_id == bindparam("tenant"),
        ADVANCED.c.integration_id == bindparam("integration_id"),
    )
)


def get_advanced_event(
    db: Store | fastsql.Lease, tenant: Tenant, integration_id: str
) -> dict[str, Any]:
    parameters = {"tenant": tenant.id, "integration_id": integration_id}
    found = fastsql.execute(db, ADVANCED_EVENT, parameters).first()
    if found is None:
        raise TalonOneError(
            404,
            f"Event {integration_id} not found",
            title="Not found",
            parameter="integrationId",
        )
    config = campaigns.load_config(db, tenant.id)
    return advanced_view(config.application_id, found, found)
