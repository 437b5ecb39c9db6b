"""Reading and writing session rows.

Writes on one session are optimistic: an update applies only if `updateCount` is still the one
read; a concurrent writer that lost the race gets the documented 409.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, bindparam, cast, exists, func, literal, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from simulator.core import fastsql
from simulator.core.ids import NumberedInsert
from simulator.core.models import Tenant
from simulator.core.store import Store, Transaction
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonSession
from simulator.talonone.models.engagement import TalonAudienceMembership
from simulator.talonone.service.loyalty.session_effects import tentative_card
from simulator.talonone.service.profile_store import (
    PROFILE_COLUMNS,
    PROFILES,
    ProfileState,
    conflict,
)


def not_found(integration_id: str) -> TalonOneError:
    return TalonOneError(
        404,
        f"Customer session {integration_id} not found",
        title="Not found",
        parameter="customerSessionId",
    )


SESSIONS = TalonSession.__table__
# Built once (the hot paths): building a statement costs more than running it.
SESSION_BY_INTEGRATION_ID = fastsql.prepared(
    core_select(SESSIONS).where(
        SESSIONS.c.tenant_id == bindparam("tenant"),
        SESSIONS.c.integration_id == bindparam("integration_id"),
    )
)
_TENANTS = Tenant.__table__
# GetCustomerSession in one query: the session joined to the tenant of the API key, its effects
# read as text (answered as stored, never parsed). A wrong key or an unknown session finds no
# row.
SESSION_FOR_KEY = fastsql.prepared(
    core_select(
        *[column for column in SESSIONS.c if column.name != "effects"],
        cast(SESSIONS.c.effects, Text).label("effects"),
        _TENANTS.c.quota_requests_per_second,
    )
    .select_from(SESSIONS.join(_TENANTS, _TENANTS.c.id == SESSIONS.c.tenant_id))
    .where(
        _TENANTS.c.talonone_api_key == bindparam("api_key"),
        SESSIONS.c.integration_id == bindparam("integration_id"),
    )
)
INSERT_SESSION = NumberedInsert(SESSIONS)
SAVED_COLUMNS = (
    "profile_id",
    "state",
    "data",
    "effects",
    "update_count",
    "counted_sales",
    "updated",
    "tentative_card",
)
UPDATE_SESSION = fastsql.prepared(
    update(SESSIONS)
    .where(
        SESSIONS.c.tenant_id == bindparam("where_tenant"),
        SESSIONS.c.id == bindparam("where_id"),
        SESSIONS.c.update_count == bindparam("where_update_count"),
    )
    .values({name: bindparam(f"new_{name}") for name in SAVED_COLUMNS})
)


@dataclass
class SessionState:
    """A session as the update path works on it (a plain object: no ORM bookkeeping)."""

    tenant_id: str
    id: int
    integration_id: str
    profile_id: str
    state: str
    data: dict[str, Any]
    effects: list[Any]
    first_session: bool
    update_count: int
    counted_sales: float
    created: datetime
    updated: datetime
    tentative_card: str | None = None


SESSION_COLUMNS = tuple(f.name for f in fields(SessionState))


# An update naming its profile: the stored session (if any), the profile (if any) and whether
# the profile had a session before, in one query (a row even when neither exists).
_STORED = SESSIONS.alias("stored")
_NAMED = PROFILES.alias("named")
_HAD_SESSION = (
    exists()
    .where(
        SESSIONS.c.tenant_id == _NAMED.c.tenant_id, SESSIONS.c.profile_id == _NAMED.c.integration_id
    )
    .label("had_session")
)
# PostgreSQL: the audiences of the named profile too (what an audience condition of the rules
# asks), a round trip fewer; SQLite reads them on demand (no round trip to save).
_MEMBERSHIPS = TalonAudienceMembership.__table__
_AUDIENCE_IDS = (
    core_select(func.array_agg(_MEMBERSHIPS.c.audience_id))
    .where(
        _MEMBERSHIPS.c.tenant_id == bindparam("tenant"),
        _MEMBERSHIPS.c.profile_integration_id == bindparam("profile_id"),
    )
    .scalar_subquery()
    .label("audience_ids")
)


def _session_and_profile(*extra: Any) -> Any:
    return core_select(
        *[column.label(f"s_{column.name}") for column in _STORED.c],
        *[column.label(f"p_{column.name}") for column in _NAMED.c],
        _HAD_SESSION,
        *extra,
    ).select_from(
        core_select(literal(1).label("one"))
        .subquery("one")
        .outerjoin(
            _STORED,
            and_(
                _STORED.c.tenant_id == bindparam("tenant"),
                _STORED.c.integration_id == bindparam("integration_id"),
            ),
        )
        .outerjoin(
            _NAMED,
            and_(
                _NAMED.c.tenant_id == bindparam("tenant"),
                _NAMED.c.integration_id == bindparam("profile_id"),
            ),
        )
    )


SESSION_AND_PROFILE = fastsql.prepared(
    {"postgresql": _session_and_profile(_AUDIENCE_IDS), "": _session_and_profile()}
)
_STORED_ROW = namedtuple("StoredSession", [column.name for column in SESSIONS.c])  # type: ignore[misc]
_SESSION_WIDTH = len(SESSIONS.c)


class SessionAndProfile(NamedTuple):
    stored: Any  # the stored session as a Core row, or None
    profile: ProfileState | None  # the named profile, or None
    had_session: bool  # whether that profile had a session before
    audience_ids: set[int] | None  # the audiences it belongs to; None: not read (SQLite)


def session_and_profile(
    db: Store | fastsql.Lease, tenant_id: str, integration_id: str, profile_id: str
) -> SessionAndProfile:
    """The stored session and the profile an update names, in one query."""
    parameters = {"tenant": tenant_id, "integration_id": integration_id, "profile_id": profile_id}
    row = fastsql.execute(db, SESSION_AND_PROFILE, parameters).first()
    stored = _STORED_ROW._make(row[:_SESSION_WIDTH]) if row.s_tenant_id is not None else None
    audience_ids = set(row.audience_ids or ()) if "audience_ids" in row._fields else None
    if row.p_tenant_id is None:
        return SessionAndProfile(stored, None, False, audience_ids)
    values = {name: getattr(row, f"p_{name}") for name in PROFILE_COLUMNS}
    return SessionAndProfile(stored, ProfileState(**values), bool(row.had_session), audience_ids)


def session_row(db: Store | fastsql.Lease, tenant_id: str, integration_id: str) -> Any:
    """The stored session as a Core row (read-only), or None."""
    parameters = {"tenant": tenant_id, "integration_id": integration_id}
    return fastsql.execute(db, SESSION_BY_INTEGRATION_ID, parameters).first()


def get_session(db: Store, tenant_id: str, integration_id: str) -> TalonSession | None:
    statement = select(TalonSession).where(
        TalonSession.tenant_id == tenant_id, TalonSession.integration_id == integration_id
    )
    return db.exec(statement).first()


def require_session(db: Store, tenant_id: str, integration_id: str) -> TalonSession:
    session = get_session(db, tenant_id, integration_id)
    if session is None:
        raise not_found(integration_id)
    return session


def save_session(db: Transaction, session: Any, stored: Any) -> None:
    """Insert, or update only if nobody else updated the session since we read it (409).

    `session` is a SessionState or a TalonSession, `stored` the ORM object or Core row read
    (None for a new session); Core statements either way. An open session's row marks its
    loyalty effects as its tentative figures (`tentative_card`, read by the loyalty part).
    """
    session.tentative_card = (
        tentative_card(session.effects or []) if session.state == "open" else None
    )
    if stored is None:
        values = {name: getattr(session, name) for name in SESSION_COLUMNS}
        try:
            session.id = INSERT_SESSION.insert(db, session.tenant_id, "talonone.session", values)
        except IntegrityError:  # another request created it meanwhile: nothing of ours stays
            db.rollback()
            raise conflict() from None
        return
    parameters = {f"new_{name}": getattr(session, name) for name in SAVED_COLUMNS}
    parameters["where_tenant"] = session.tenant_id
    parameters["where_id"] = stored.id
    parameters["where_update_count"] = stored.update_count
    result = fastsql.execute(db, UPDATE_SESSION, parameters)
    if result.rowcount != 1:
        raise conflict()
    if isinstance(stored, TalonSession):
        db.expire(stored)
