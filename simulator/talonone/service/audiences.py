"""Audiences and their members (profiles by integration ID).

Part 1 reads `profile_audience_ids` for rule conditions and `profile_audience_memberships` for
the CustomerProfile JSON, and applies UpdateCustomerProfileV2's `audiencesChanges` through
`apply_profile_audience_changes`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from sqlalchemy import bindparam, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from simulator.core import fastsql
from simulator.core.clock import UtcDateTime, format_instant
from simulator.core.ids import next_value
from simulator.core.storable import fits, lookup
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.engagement import TalonAudience, TalonAudienceMembership
from simulator.talonone.parsing import check_attributes
from simulator.talonone.service.campaigns import attribute_definitions, load_config
from simulator.talonone.service.profile_store import ensure_profile, get_profile

MAX_AUDIENCE_ACTIONS = 1000


# --- request bodies ---------------------------------------------------------------------------


class NewAudience(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: StrictStr = Field(min_length=1, max_length=1000)
    description: StrictStr | None = None
    integration: StrictStr | None = Field(default=None, max_length=200)
    integration_id: StrictStr | None = Field(
        default=None, alias="integrationId", min_length=1, max_length=1000
    )
    created_in_3rd_party: StrictBool | None = Field(default=None, alias="createdIn3rdParty")
    last_update: UtcDateTime | None = Field(default=None, alias="lastUpdate")
    sandbox: StrictBool | None = None


class UpdateAudience(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: StrictStr = Field(min_length=1, max_length=1000)


class AudienceAction(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    action: Literal["add", "delete"]
    profile_integration_id: StrictStr = Field(
        alias="profileIntegrationId", min_length=1, max_length=1000
    )
    audience_id: StrictInt = Field(alias="audienceId")


class CustomerProfileAudienceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: list[AudienceAction] = Field(default_factory=list, max_length=MAX_AUDIENCE_ACTIONS)


# --- views and lookups ------------------------------------------------------------------------


def audience_view(audience: TalonAudience, account_id: int) -> dict[str, Any]:
    """The `Audience` JSON of the API (optional keys left out when unset)."""
    view: dict[str, Any] = {
        "accountId": account_id,
        "id": audience.id,
        "created": format_instant(audience.created),
        "name": audience.name,
    }
    optional = {
        "description": audience.description,
        "integration": audience.integration,
        "integrationId": audience.integration_id,
        "createdIn3rdParty": audience.created_in_3rd_party,
        "lastUpdate": format_instant(audience.last_update) if audience.last_update else None,
        "sandbox": audience.sandbox,
    }
    view.update({key: value for key, value in optional.items() if value is not None})
    return view


def account_id(db: Store, tenant_id: str) -> int:

    return load_config(db, tenant_id).account_id


IN_LIST = 1000  # ids per IN list (PostgreSQL takes at most 65,535 parameters a statement)


def get_audience(db: Store, tenant_id: str, audience_id: int) -> TalonAudience | None:
    """The audience; None for an id beyond the store's range too (no audience has one)."""
    return lookup(db, TalonAudience, (tenant_id, audience_id))


def require_audience(db: Store, tenant_id: str, audience_id: int) -> TalonAudience:
    audience = get_audience(db, tenant_id, audience_id)
    if audience is None:
        raise TalonOneError(
            404,
            f"Audience {audience_id} not found",
            title="Not found",
            parameter="audienceId",
        )
    return audience


def find_by_integration(
    db: Store, tenant_id: str, integration: str | None, integration_id: str
) -> TalonAudience | None:
    statement = select(TalonAudience).where(
        TalonAudience.tenant_id == tenant_id,
        TalonAudience.integration_id == integration_id,
    )
    if integration is None:
        statement = statement.where(TalonAudience.integration.is_(None))
    else:
        statement = statement.where(TalonAudience.integration == integration)
    return db.exec(statement).first()


# --- audiences --------------------------------------------------------------------------------


def create_audience(
    db: Store, tenant_id: str, now: datetime, request: NewAudience
) -> dict[str, Any]:
    """CreateAudienceV2; a second audience with the same (integration, integrationId) is 409."""
    if request.integration_id is not None and find_by_integration(
        db, tenant_id, request.integration, request.integration_id
    ):
        raise TalonOneError(
            409,
            "An Audience with this ID already exists for this integration",
            title="Conflict",
            pointer="/integrationId",
        )
    audience = TalonAudience(
        tenant_id=tenant_id,
        id=next_value(db, tenant_id, "talonone.audience"),
        name=request.name,
        description=request.description,
        integration=request.integration,
        integration_id=request.integration_id,
        created_in_3rd_party=request.created_in_3rd_party,
        last_update=request.last_update,
        sandbox=request.sandbox,
        created=now,
    )
    db.add(audience)
    db.flush()
    return audience_view(audience, account_id(db, tenant_id))


def rename_audience(db: Store, tenant_id: str, audience_id: int, name: str) -> dict[str, Any]:
    audience = require_audience(db, tenant_id, audience_id)
    audience.name = name
    db.add(audience)
    db.flush()
    return audience_view(audience, account_id(db, tenant_id))


def delete_memberships(db: Store, tenant_id: str, audience_id: int) -> None:
    require_audience(db, tenant_id, audience_id)
    db.execute(
        delete(TalonAudienceMembership).where(
            TalonAudienceMembership.tenant_id == tenant_id,
            TalonAudienceMembership.audience_id == audience_id,
        )
    )


def delete_audience(db: Store, tenant_id: str, audience_id: int) -> None:
    """DeleteAudienceV2 also removes every membership of the audience."""
    audience = require_audience(db, tenant_id, audience_id)
    delete_memberships(db, tenant_id, audience_id)
    db.delete(audience)
    db.flush()


def member_ids(db: Store, tenant_id: str, audience_id: int) -> list[str]:
    statement = (
        select(TalonAudienceMembership.profile_integration_id)
        .where(
            TalonAudienceMembership.tenant_id == tenant_id,
            TalonAudienceMembership.audience_id == audience_id,
        )
        .order_by(TalonAudienceMembership.profile_integration_id)
    )
    return list(db.exec(statement).all())


def update_members_attributes(
    db: Store, tenant_id: str, audience_id: int, attributes: dict[str, Any]
) -> int:
    """UpdateAudienceCustomersAttributes: merge these attributes into every member's profile.

    The attributes must be defined for customer profiles, with their types (as on
    UpdateCustomerProfileV2). Returns how many profiles were updated.
    """
    require_audience(db, tenant_id, audience_id)

    definitions = attribute_definitions(load_config(db, tenant_id), "CustomerProfile")
    check_attributes(attributes, "", "CustomerProfile", definitions)
    updated = 0
    for profile_id in member_ids(db, tenant_id, audience_id):
        profile = get_profile(db, tenant_id, profile_id)
        if profile is None:
            continue
        profile.attributes = {**(profile.attributes or {}), **attributes}
        db.add(profile)
        updated += 1
    db.flush()
    return updated


# --- memberships ------------------------------------------------------------------------------


def add_member(db: Store, tenant_id: str, now: datetime, audience_id: int, profile_id: str) -> None:
    """Idempotent, also when another request adds the same member at the same time."""
    if db.get(TalonAudienceMembership, (tenant_id, audience_id, profile_id)) is not None:
        return
    membership = TalonAudienceMembership(
        tenant_id=tenant_id, audience_id=audience_id, profile_integration_id=profile_id, created=now
    )
    # A request running at the same time added the same membership: the same outcome.
    with contextlib.suppress(IntegrityError), db.begin_nested():
        db.add(membership)


def remove_member(db: Store, tenant_id: str, audience_id: int, profile_id: str) -> None:
    membership = db.get(TalonAudienceMembership, (tenant_id, audience_id, profile_id))
    if membership is not None:
        db.delete(membership)
        db.flush()


def missing_audiences(db: Store, tenant_id: str, audience_ids: set[int]) -> list[int]:
    if not audience_ids:
        return []
    storable = sorted(i for i in audience_ids if fits(TalonAudience.id, i))
    known: set[int] = set()
    for start in range(0, len(storable), IN_LIST):  # `audiencesChanges` has no maximum
        statement = select(TalonAudience.id).where(
            TalonAudience.tenant_id == tenant_id,
            TalonAudience.id.in_(storable[start : start + IN_LIST]),
        )
        known.update(db.exec(statement).all())
    return sorted(audience_ids - known)


def change_profile_audiences(
    db: Store, tenant_id: str, now: datetime, actions: list[AudienceAction]
) -> None:
    """UpdateCustomerProfileAudiences: every action or none (an unknown audience is 404).

    `add` creates a profile that does not exist yet (documented); `delete` of a profile that
    is not a member does nothing. Actions apply in order.
    """
    missing = missing_audiences(db, tenant_id, {a.audience_id for a in actions})
    if missing:
        index = next(i for i, a in enumerate(actions) if a.audience_id == missing[0])
        raise TalonOneError(
            404,
            f"Audience {missing[0]} not found",
            title="Not found",
            pointer=f"/data/{index}/audienceId",
        )

    for action in actions:
        if action.action == "add":
            ensure_profile(db, tenant_id, action.profile_integration_id, now)
            add_member(db, tenant_id, now, action.audience_id, action.profile_integration_id)
        else:
            remove_member(db, tenant_id, action.audience_id, action.profile_integration_id)


def apply_profile_audience_changes(
    db: Store,
    tenant_id: str,
    now: datetime,
    profile_id: str,
    *,
    adds: list[int],
    deletes: list[int],
) -> None:
    """`audiencesChanges` of UpdateCustomerProfileV2: 404 on an unknown audience."""
    missing = missing_audiences(db, tenant_id, set(adds) | set(deletes))
    if missing:
        raise TalonOneError(
            404,
            f"Audience {missing[0]} not found",
            title="Not found",
            pointer="/audiencesChanges",
        )
    for audience_id in adds:
        add_member(db, tenant_id, now, audience_id, profile_id)
    for audience_id in deletes:
        remove_member(db, tenant_id, audience_id, profile_id)


# Every session update whose campaigns test an audience asks it: a statement built once, run on
# the DBAPI cursor (core/fastsql), on the per-profile index. Through the ORM it cost a request
# ~0.6 ms: building the select, and the lease's first ORM Session.
PROFILE_AUDIENCE_IDS = fastsql.prepared(
    select(TalonAudienceMembership.audience_id).where(
        TalonAudienceMembership.tenant_id == bindparam("tenant"),
        TalonAudienceMembership.profile_integration_id == bindparam("profile"),
    )
)


def profile_audience_ids(db: Store | fastsql.Lease, tenant_id: str, profile_id: str) -> set[int]:
    """The audiences a profile belongs to (for rule conditions)."""
    parameters = {"tenant": tenant_id, "profile": profile_id}
    return {row[0] for row in fastsql.execute(db, PROFILE_AUDIENCE_IDS, parameters)}


# Every CustomerProfile an answer renders asks it (inventory, session and profile updates): built
# once, run on the DBAPI cursor (core/fastsql), on the per-profile index, on a lease or a Session.
PROFILE_AUDIENCE_MEMBERSHIPS = fastsql.prepared(
    select(TalonAudience.id, TalonAudience.name)
    .join(
        TalonAudienceMembership,
        (TalonAudienceMembership.tenant_id == TalonAudience.tenant_id)
        & (TalonAudienceMembership.audience_id == TalonAudience.id),
    )
    .where(
        TalonAudienceMembership.tenant_id == bindparam("tenant"),
        TalonAudienceMembership.profile_integration_id == bindparam("profile"),
    )
    .order_by(TalonAudienceMembership.audience_id),  # the per-profile index's order
    autoflush=True,
)


def profile_audience_memberships(
    db: Store | fastsql.Lease, tenant_id: str, profile_id: str
) -> list[dict]:
    """The `audienceMemberships` of a CustomerProfile: [{id, name}] by audience id."""
    parameters = {"tenant": tenant_id, "profile": profile_id}
    return membership_views(fastsql.execute(db, PROFILE_AUDIENCE_MEMBERSHIPS, parameters))


def membership_views(audiences: Iterable[tuple[int, str]]) -> list[dict]:
    """`audienceMemberships` entries of (audience id, name) pairs, in their order."""
    return [{"id": audience_id, "name": name} for audience_id, name in audiences]


def delete_profile_data(db: Store, tenant_id: str, profile_id: str) -> None:
    db.execute(
        delete(TalonAudienceMembership).where(
            TalonAudienceMembership.tenant_id == tenant_id,
            TalonAudienceMembership.profile_integration_id == profile_id,
        )
    )
