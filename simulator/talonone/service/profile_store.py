"""Customer profile rows: lookups, creation (409 for a lost race), the figures a closed session
counts, deletion. Below every use case that touches a profile (sessions, events, loyalty,
audiences, coupons), so none of them needs another to reach a profile."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import select

from simulator.core import fastsql
from simulator.core.ids import NumberedInsert, next_value
from simulator.core.store import Store, Transaction
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import (
    TalonEvent,
    TalonIdempotentResponse,
    TalonProfile,
    TalonReturn,
    TalonSession,
)


def get_profile(db: Store, tenant_id: str, integration_id: str) -> TalonProfile | None:
    statement = select(TalonProfile).where(
        TalonProfile.tenant_id == tenant_id, TalonProfile.integration_id == integration_id
    )
    return db.exec(statement).first()


def new_profile(db: Store, tenant_id: str, integration_id: str, now: datetime) -> TalonProfile:
    return TalonProfile(
        tenant_id=tenant_id,
        id=next_value(db, tenant_id, "talonone.profile"),
        integration_id=integration_id,
        attributes={},
        created=now,
        last_activity=now,
    )


def new_profile_view_only(tenant_id: str, integration_id: str, now: datetime) -> TalonProfile:
    """An unsaved profile for dry runs (id 0: it does not exist yet)."""
    return TalonProfile(
        tenant_id=tenant_id,
        id=0,
        integration_id=integration_id,
        attributes={},
        created=now,
        last_activity=now,
    )


PROFILES = TalonProfile.__table__
# Built once (the session hot path): building a statement costs more than running it.
PROFILE_BY_INTEGRATION_ID = fastsql.prepared(
    core_select(PROFILES).where(
        PROFILES.c.tenant_id == bindparam("tenant"),
        PROFILES.c.integration_id == bindparam("integration_id"),
    )
)
PROFILE_EXISTS = fastsql.prepared(
    core_select(PROFILES.c.id).where(
        PROFILES.c.tenant_id == bindparam("tenant"),
        PROFILES.c.integration_id == bindparam("integration_id"),
    )
)
# A new profile, its id taken in the same statement on PostgreSQL (core/ids.NumberedInsert).
NEW_PROFILE = NumberedInsert(PROFILES, unique_on=("tenant_id", "integration_id"))
# An update that changes no figure (most session updates) writes the activity alone.
TOUCH_PROFILE = fastsql.prepared(
    update(PROFILES)
    .where(
        PROFILES.c.tenant_id == bindparam("where_tenant"),
        PROFILES.c.id == bindparam("where_id"),
    )
    .values(last_activity=bindparam("new_last_activity"))
)
_CLOSED = PROFILES.c.closed_sessions + bindparam("add_closed_sessions")
_SALES = PROFILES.c.total_sales + bindparam("add_total_sales")
# Added to what the row holds when it is written, never below zero: another request may have
# counted a session since this one read the profile.
UPDATE_PROFILE_FIGURES = fastsql.prepared(
    update(PROFILES)
    .where(
        PROFILES.c.tenant_id == bindparam("where_tenant"),
        PROFILES.c.id == bindparam("where_id"),
    )
    .values(
        last_activity=func.coalesce(
            bindparam("new_last_activity", type_=PROFILES.c.last_activity.type),
            PROFILES.c.last_activity,
        ),
        closed_sessions=case((_CLOSED < 0, 0), else_=_CLOSED),
        total_sales=case((_SALES < 0, 0.0), else_=_SALES),
    )
    .returning(PROFILES.c.closed_sessions, PROFILES.c.total_sales)
)


@dataclass
class ProfileState:
    """A profile as the session path works on it (a plain object: no ORM bookkeeping)."""

    tenant_id: str
    id: int
    integration_id: str
    attributes: dict[str, Any]
    created: datetime
    last_activity: datetime
    closed_sessions: int = 0
    total_sales: float = 0.0


PROFILE_COLUMNS = tuple(f.name for f in fields(ProfileState))


def profile_state(
    db: Store | fastsql.Lease, tenant_id: str, integration_id: str
) -> ProfileState | None:
    parameters = {"tenant": tenant_id, "integration_id": integration_id}
    row = fastsql.execute(db, PROFILE_BY_INTEGRATION_ID, parameters).first()
    return None if row is None else state_of(row)


def profile_exists(db: Store | fastsql.Lease, tenant_id: str, integration_id: str) -> bool:
    """Whether the profile is stored (its id alone read: no row to build)."""
    parameters = {"tenant": tenant_id, "integration_id": integration_id}
    return fastsql.execute(db, PROFILE_EXISTS, parameters).first() is not None


def state_of(row: Any) -> ProfileState:
    return ProfileState(**{name: getattr(row, name) for name in PROFILE_COLUMNS})


def unsaved_profile_state(tenant_id: str, integration_id: str, now: datetime) -> ProfileState:
    """An unsaved profile for dry runs (id 0: it does not exist yet)."""
    return ProfileState(tenant_id, 0, integration_id, {}, now, now)


def create_profile_state(
    db: Transaction, tenant_id: str, integration_id: str, now: datetime
) -> ProfileState:
    """A new profile, inserted (not committed).

    Two requests naming the same new profile at once (processes sharing PostgreSQL): the
    second's insert waits for the first's commit and leaves its row out (ON CONFLICT DO
    NOTHING on the profile's unique key); it goes on with the profile the first created, as
    the real API answers both (a 409 there is for two writers of one session).
    """
    profile = ProfileState(tenant_id, 0, integration_id, {}, now, now)
    values = {name: getattr(profile, name) for name in PROFILE_COLUMNS}
    profile_id = NEW_PROFILE.insert(db, tenant_id, "talonone.profile", values)
    if profile_id is not None:
        profile.id = profile_id
        return profile
    created = profile_state(db, tenant_id, integration_id)
    if created is None:  # not the profile's key after all: the caller's work is void
        db.rollback()
        raise conflict() from None
    return created


def save_profile_figures(
    db: Store,
    profile: ProfileState | TalonProfile,
    closed_sessions: int = 0,
    total_sales: float = 0.0,
    active: bool = True,
) -> None:
    """Write what a request changes on its profile: its `last_activity` (unless not `active`),
    and the closed sessions and sales it adds (or takes back) to what the row holds then (two
    closes of one profile at once both count). The profile then holds the row's figures (an
    ORM profile without becoming dirty)."""
    if not closed_sessions and not total_sales:
        if active:
            where = {"where_tenant": profile.tenant_id, "where_id": profile.id}
            fastsql.execute(
                db, TOUCH_PROFILE, {**where, "new_last_activity": profile.last_activity}
            )
            if isinstance(profile, TalonProfile):
                set_committed_value(profile, "last_activity", profile.last_activity)
        return
    row = fastsql.execute(
        db,
        UPDATE_PROFILE_FIGURES,
        {
            "where_tenant": profile.tenant_id,
            "where_id": profile.id,
            "new_last_activity": profile.last_activity if active else None,
            "add_closed_sessions": closed_sessions,
            "add_total_sales": total_sales,
        },
    ).first()
    if row is None:
        return
    if isinstance(profile, TalonProfile):
        written = {"closed_sessions": row[0], "total_sales": row[1]}
        if active:
            written["last_activity"] = profile.last_activity
        for name, value in written.items():
            set_committed_value(profile, name, value)
    else:
        profile.closed_sessions, profile.total_sales = row[0], row[1]


def ensure_profile(
    db: Transaction, tenant_id: str, integration_id: str, now: datetime
) -> TalonProfile:
    """The profile, created (flushed, not committed) when unknown.

    Two requests creating the same profile at once: the loser gets the documented 409.
    """
    profile = get_profile(db, tenant_id, integration_id)
    if profile is not None:
        return profile
    profile = new_profile(db, tenant_id, integration_id, now)
    db.add(profile)
    try:
        db.flush()
    except IntegrityError:  # created meanwhile by another request: the caller's work is void
        db.rollback()
        raise conflict() from None
    return profile


def conflict() -> TalonOneError:
    return TalonOneError(
        409,
        "Too many requests or limit reached - Avoid parallel requests",
        title="Conflict",
        errors=[],
    )


def delete_profile(db: Store, tenant_id: str, integration_id: str) -> bool:
    """Remove the profile with its sessions, returns and events (the caller commits)."""
    profile = get_profile(db, tenant_id, integration_id)
    if profile is None:
        return False
    session_ids = select(TalonSession.integration_id).where(
        TalonSession.tenant_id == tenant_id, TalonSession.profile_id == integration_id
    )
    for table, column in (
        (TalonIdempotentResponse, TalonIdempotentResponse.session_integration_id),
        (TalonReturn, TalonReturn.session_integration_id),
    ):
        db.execute(delete(table).where(table.tenant_id == tenant_id, column.in_(session_ids)))
    db.execute(
        delete(TalonSession).where(
            TalonSession.tenant_id == tenant_id, TalonSession.profile_id == integration_id
        )
    )
    db.execute(
        delete(TalonEvent).where(
            TalonEvent.tenant_id == tenant_id, TalonEvent.profile_id == integration_id
        )
    )
    db.delete(profile)
    db.flush()
    return True
