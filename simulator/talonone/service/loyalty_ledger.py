"""The points ledger: lots, transactions, FIFO spending, rollbacks and balances at an instant.

Invariant (checked by the property tests): for every ledger,
    sum(addition rows) - sum(subtraction rows) == active + pending + expired - negative
and `spent` is what subtractions consumed from lots. Balances are computed from the lots at the
instant asked for: a lot is pending while it awaits activation or its start is later, expired
once its expiry has passed, active otherwise. Nothing runs in the background.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from calendar import monthrange
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from simulator.core import caches, fastsql
from simulator.core.clock import format_instant, parse_instant
from simulator.core.formats import number
from simulator.core.ids import next_value
from simulator.core.models import fresh_token
from simulator.core.store import Store
from simulator.talonone.models.core import TalonProfile
from simulator.talonone.models.loyalty import (
    NEVER,
    NO_START,
    TalonLoyaltyLedger,
    TalonLoyaltyLot,
    TalonLoyaltyProgram,
    TalonLoyaltySpend,
    TalonLoyaltyTransaction,
)
from simulator.talonone.service.loyalty.movements import note_instant

EPSILON = 1e-9
DURATION = re.compile(r"^(\d+)([hDWMY])$")


class LedgerInputError(ValueError):
    """A value the ledger cannot accept (bad date or duration, negative amount)."""


@dataclass(frozen=True)
class Owner:
    """Whose ledger: a profile (profile-based program) or a card (card-based program)."""

    program_id: int
    profile_id: str = ""
    card_identifier: str = ""

    def where(self, table: type) -> list:
        return [
            table.program_id == self.program_id,
            table.profile_id == self.profile_id,
            table.card_identifier == self.card_identifier,
        ]

    def parameters(self, tenant_id: str) -> dict[str, object]:
        """The binds of `owned_by` (a prepared statement's owner condition)."""
        return {
            "tenant": tenant_id,
            "program": self.program_id,
            "profile": self.profile_id,
            "card": self.card_identifier,
        }


def owned_by(table: type) -> list:
    """An owner's rows of `table` in a prepared statement, bound by `Owner.parameters`."""
    return [
        table.tenant_id == bindparam("tenant"),
        table.program_id == bindparam("program"),
        table.profile_id == bindparam("profile"),
        table.card_identifier == bindparam("card"),
    ]


@dataclass
class Balance:
    active: float = 0.0
    pending: float = 0.0
    expired: float = 0.0
    spent: float = 0.0
    negative: float = 0.0

    def as_api(self) -> dict[str, float]:
        return {
            "activePoints": number(self.active),
            "pendingPoints": number(self.pending),
            "spentPoints": number(self.spent),
            "expiredPoints": number(self.expired),
            "negativePoints": number(self.negative),
        }


@dataclass
class PostResult:
    # The transaction posted: its ORM object, or (written by Core) its row's values by name.
    transaction: TalonLoyaltyTransaction | SimpleNamespace
    amount: float  # what was actually posted (a deduction may be capped)
    spends: list[TalonLoyaltySpend] = field(default_factory=list)


def transaction_uuid(tenant_id: str, transaction_id: int) -> str:
    """Deterministic UUIDs: the same tenant and row number always give the same UUID."""
    digest = hashlib.sha256(f"talonone-loyalty:{tenant_id}:{transaction_id}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


# --- ids ---------------------------------------------------------------------------------------

TRANSACTION_IDS = "talonone.loyalty_transaction"
RESERVED = "talonone.loyalty_reserved_ids"
LEDGERS = "talonone.loyalty_ledgers"


def reserve_ids(db: Store, tenant_id: str, name: str, count: int) -> None:
    """Take `count` ids of a counter in one statement for a bulk load (fixtures); `take_id`
    hands them out from the session until they run out."""
    if count <= 0:
        return
    last = next_value(db, tenant_id, name, step=count)
    db.info.setdefault(RESERVED, {})[(tenant_id, name)] = iter(range(last - count + 1, last + 1))


def take_id(db: Store, tenant_id: str, name: str) -> int:
    reserved = db.info.get(RESERVED, {}).get((tenant_id, name))
    if reserved is not None:
        value = next(reserved, None)
        if value is not None:
            return value
        del db.info[RESERVED][(tenant_id, name)]
    return next_value(db, tenant_id, name)


# --- dates ---------------------------------------------------------------------------------


def add_duration(start: datetime, text: str) -> datetime:
    """`30D`, `2W`, `6M`, `1Y`, `12h` (Talon.One's duration notation) added to `start`."""
    match = DURATION.match(text.strip())
    if not match:
        raise LedgerInputError(f"invalid duration {text!r} (expected e.g. 30D, 2W, 6M, 1Y, 12h)")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "h":
        return start + timedelta(hours=count)
    if unit == "D":
        return start + timedelta(days=count)
    if unit == "W":
        return start + timedelta(weeks=count)
    months = count * (12 if unit == "Y" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


def is_duration(text: str) -> bool:
    return bool(DURATION.match(text.strip()))


def to_instant(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return parse_instant(value.isoformat())
    try:
        return parse_instant(value)
    except ValueError as error:
        raise LedgerInputError(f"invalid timestamp {value!r}") from error


@dataclass
class LotDates:
    on_action: bool
    start_at: datetime | None
    expiry_at: datetime | None
    start_text: str
    expiry_text: str
    validity_duration: str | None


def lot_dates(
    program: TalonLoyaltyProgram,
    now: datetime,
    start: str | datetime | None = None,
    expiry: str | datetime | None = None,
    awaits_activation: bool = False,
    validity_duration: str | None = None,
) -> LotDates:
    """Resolve an addition's start and expiry from what was given and the program defaults."""
    start_value = start if start not in (None, "") else program.default_pending
    if awaits_activation:
        start_value = "on_action"
    on_action = start_value == "on_action"
    start_at: datetime | None = None
    if on_action or start_value == "immediate":
        start_text = str(start_value)
    elif isinstance(start_value, str) and is_duration(start_value):
        start_at = add_duration(now, start_value)
        start_text = format_instant(start_at)
    else:
        start_at = to_instant(start_value)
        start_text = format_instant(start_at)
    if on_action:
        duration = validity_duration
        if duration is None and isinstance(expiry, str) and is_duration(expiry):
            duration = expiry
        if duration is None and is_duration(program.default_validity):
            duration = program.default_validity
        return LotDates(True, None, None, "on_action", "unlimited", duration)
    expiry_value = expiry if expiry not in (None, "") else program.default_validity
    expiry_at: datetime | None = None
    if expiry_value == "unlimited":
        expiry_text = "unlimited"
    elif isinstance(expiry_value, str) and is_duration(expiry_value):
        expiry_at = add_duration(start_at or now, expiry_value)
        expiry_text = format_instant(expiry_at)
    else:
        expiry_at = to_instant(expiry_value)
        expiry_text = format_instant(expiry_at)
    return LotDates(False, start_at, expiry_at, start_text, expiry_text, None)


# --- status conditions -----------------------------------------------------------------------


def epoch(at: datetime) -> float:
    return at.timestamp()


def status_condition(lots: Any, status: str, ts: Any) -> Any:
    """The lots of `status` (pending, active or expired) at the epoch instant `ts`: a number, or
    a bind of one (a prepared statement). `lots`: TalonLoyaltyLot or its table's columns.
    An expired lot is not pending (a lot cannot expire before it starts counting)."""
    if status == "pending":
        return lots.start_ts > ts
    if status == "expired":
        return and_(lots.start_ts <= ts, lots.expiry_ts <= ts)
    return and_(lots.start_ts <= ts, lots.expiry_ts > ts)


def active_condition(at: datetime) -> Any:
    return status_condition(TalonLoyaltyLot, "active", epoch(at))


def start_ts_of(on_action: bool, start_at: datetime | None) -> float:
    if on_action:
        return NEVER
    return start_at.timestamp() if start_at is not None else NO_START


def expiry_ts_of(expiry_at: datetime | None) -> float:
    return expiry_at.timestamp() if expiry_at is not None else NEVER


def lot_status(lot: TalonLoyaltyLot, at: datetime) -> str:
    if lot.on_action or (lot.start_at is not None and lot.start_at > at):
        return "pending"
    if lot.expiry_at is not None and lot.expiry_at <= at:
        return "expired"
    return "active"


# --- balances ----------------------------------------------------------------------------------


@dataclass
class LotTotals:
    """What the lots of one owner add up to at an instant, valid for every instant of
    [valid_from, valid_until): no lot starts or expires inside that window."""

    per_subledger: dict[str, Balance]
    valid_from: float
    valid_until: float


CACHE_SIZE = 4096
_totals_cache: OrderedDict[tuple, tuple[tuple, LotTotals]] = OrderedDict()
caches.register(
    "talonone.lot_totals",
    "(store, tenant, ledger owner) -> its lot totals; right while the owner's ledger versions "
    "(read from the store, renewed by every write) match and the instant stays in the window "
    "the totals hold for; the 4,096 most recent kept",
    clear=_totals_cache.clear,
    forget_tenant=lambda tenant_id: caches.drop_keys(
        _totals_cache, lambda key, _v: key[1] != tenant_id
    ),
)


def _lot_totals_statement() -> fastsql.Prepared:
    lot = TalonLoyaltyLot
    ts = bindparam("ts", type_=lot.start_ts.type)
    return fastsql.prepared(
        select(
            lot.subledger_id,
            func.sum(case((lot.start_ts > ts, lot.remaining), else_=0.0)),
            func.sum(
                case((and_(lot.start_ts <= ts, lot.expiry_ts <= ts), lot.remaining), else_=0.0)
            ),
            func.sum(lot.remaining),
            func.sum(lot.amount - lot.remaining - lot.revoked),
            func.min(case((lot.start_ts > ts, lot.start_ts), else_=NEVER)),
            func.min(case((lot.expiry_ts > ts, lot.expiry_ts), else_=NEVER)),
            func.max(case((lot.start_ts <= ts, lot.start_ts), else_=NO_START)),
            func.max(case((lot.expiry_ts <= ts, lot.expiry_ts), else_=NO_START)),
        )
        .where(*owned_by(lot))
        .group_by(lot.subledger_id)
    )


# Built once (balances are read on every loyalty read and rule): building costs more than running.
LOT_TOTALS = _lot_totals_statement()
LEDGER_ROWS = fastsql.prepared(
    select(TalonLoyaltyLedger.subledger_id, TalonLoyaltyLedger.debt, TalonLoyaltyLedger.version)
    .where(*owned_by(TalonLoyaltyLedger))
    .order_by(TalonLoyaltyLedger.subledger_id)
)
ANY_LEDGER = fastsql.prepared(
    select(TalonLoyaltyLedger.subledger_id).where(*owned_by(TalonLoyaltyLedger)).limit(1)
)


def lot_totals(db: Store | fastsql.Lease, tenant_id: str, owner: Owner, ts: float) -> LotTotals:
    """One aggregate over the owner's lots (a covering-index scan), with the window in which
    the figures stay true: the nearest start or expiry boundary on either side of `ts`."""
    totals = LotTotals({}, NO_START, NEVER)
    rows = fastsql.execute(db, LOT_TOTALS, {**owner.parameters(tenant_id), "ts": ts})
    for row in rows:
        subledger, pend, exp, total, spent, next_start, next_expiry, last_start, last_expiry = row
        pend, exp = pend or 0.0, exp or 0.0
        totals.per_subledger[subledger] = Balance(
            active=max((total or 0.0) - pend - exp, 0.0),
            pending=pend,
            expired=exp,
            spent=spent or 0.0,
        )
        totals.valid_until = min(totals.valid_until, next_start, next_expiry)
        totals.valid_from = max(totals.valid_from, last_start, last_expiry)
    return totals


def cached_lot_totals(
    db: Store | fastsql.Lease, tenant_id: str, owner: Owner, ts: float, versions: tuple
) -> LotTotals:
    """Lot totals, reused while the owner's ledgers keep their versions (every write gives its
    ledger a new one) and `ts` stays inside the window. The versions are read from the store,
    so this per-process cache is right with several workers too."""
    key = (id(db.get_bind()), tenant_id, owner)
    found = _totals_cache.get(key)
    if (
        found is not None
        and found[0] == versions
        and found[1].valid_from <= ts < found[1].valid_until
    ):
        _totals_cache.move_to_end(key)
        return found[1]
    totals = lot_totals(db, tenant_id, owner, ts)
    _totals_cache[key] = (versions, totals)
    if len(_totals_cache) > CACHE_SIZE:
        _totals_cache.popitem(last=False)
    return totals


def balances(
    db: Store | fastsql.Lease,
    tenant_id: str,
    owner: Owner,
    at: datetime,
    subledgers: list[str] | None = None,
) -> dict[str, Balance]:
    """Balance per subledger at `at`: the lots' totals, then each ledger's debt."""
    ledger_rows = fastsql.execute(db, LEDGER_ROWS, owner.parameters(tenant_id)).all()
    if not ledger_rows:
        return {}
    versions = tuple((row[0], row[2]) for row in ledger_rows)
    totals = cached_lot_totals(db, tenant_id, owner, epoch(at), versions)
    result: dict[str, Balance] = {}
    for subledger, debt, _version in ledger_rows:
        if subledgers is not None and subledger not in subledgers:
            continue
        balance = replace(totals.per_subledger.get(subledger, Balance()))
        if debt > EPSILON:
            net = balance.active - debt
            balance.active, balance.negative = (net, 0.0) if net >= 0 else (0.0, -net)
        result[subledger] = balance
    return result


def available(db: Store, tenant_id: str, owner: Owner, at: datetime, subledger: str) -> float:
    balance = balances(db, tenant_id, owner, at, [subledger]).get(subledger, Balance())
    return balance.active - balance.negative


def ledger_exists(db: Store | fastsql.Lease, tenant_id: str, owner: Owner) -> bool:
    return fastsql.execute(db, ANY_LEDGER, owner.parameters(tenant_id)).first() is not None


def ensure_ledger(
    db: Store, tenant_id: str, owner: Owner, subledger: str, now: datetime
) -> TalonLoyaltyLedger:
    """The ledger row, created on first use and locked for the rest of the transaction (on
    PostgreSQL, FOR UPDATE: writers of one ledger take turns), with a new version.

    Kept referenced for the transaction (the identity map holds objects weakly), so a bulk load
    does not query and autoflush for every entry."""
    key = (tenant_id, owner.program_id, owner.profile_id, owner.card_identifier, subledger)
    note_instant(db, now)
    fastsql.hold_write_lock(db)  # SQLite: what is read next is read under the write lock
    transaction = db.get_transaction()
    cache = db.info.get(LEDGERS)
    if cache is None or cache[0] is not transaction:
        cache = (transaction, {})
        db.info[LEDGERS] = cache
    ledger = cache[1].get(key)
    if ledger is not None and ledger in db:
        ledger.version = fresh_token()
        return ledger
    ledger = db.get(TalonLoyaltyLedger, key, with_for_update=True)
    if ledger is None:
        try:
            with db.begin_nested():
                ledger = TalonLoyaltyLedger(
                    tenant_id=tenant_id,
                    program_id=owner.program_id,
                    profile_id=owner.profile_id,
                    card_identifier=owner.card_identifier,
                    subledger_id=subledger,
                    debt=0.0,
                    version=fresh_token(),
                    joined=now,
                )
                db.add(ledger)
        except IntegrityError:  # another request created it just now
            ledger = db.get(TalonLoyaltyLedger, key, with_for_update=True, populate_existing=True)
            assert ledger is not None
    ledger.version = fresh_token()
    cache[1][key] = ledger
    return ledger


# --- locks ---------------------------------------------------------------------------------

_PROFILE_ROWS = TalonProfile.__table__
LOCK_PROFILE = fastsql.prepared(
    select(_PROFILE_ROWS.c.id)
    .where(
        _PROFILE_ROWS.c.tenant_id == bindparam("tenant"),
        _PROFILE_ROWS.c.integration_id == bindparam("profile"),
    )
    .with_for_update()
)
_LEDGER_TABLE = TalonLoyaltyLedger.__table__
# The profile's own ledgers and the card's, in key order (every locker takes them in this
# order, so two of them never wait for each other in a circle).
LOCK_LEDGERS = fastsql.prepared(
    select(_LEDGER_TABLE.c.program_id)
    .where(
        _LEDGER_TABLE.c.tenant_id == bindparam("tenant"),
        or_(
            and_(
                _LEDGER_TABLE.c.profile_id == bindparam("profile"),
                _LEDGER_TABLE.c.profile_id != "",
                _LEDGER_TABLE.c.card_identifier == "",
            ),
            and_(
                _LEDGER_TABLE.c.card_identifier == bindparam("card"),
                _LEDGER_TABLE.c.card_identifier != "",
            ),
        ),
    )
    .order_by(*_LEDGER_TABLE.primary_key.columns)
    .with_for_update()
)


def lock_ledgers(db: Store, tenant_id: str, profile_id: str, card_identifier: str) -> None:
    """Lock, for the rest of the transaction, the profile's row and ledgers and the card's
    ledgers, before reading a balance that a write of the same transaction rests on (a rule's
    deduction, a rollback): another writer of them waits until this one commits, and what it
    reads then includes what this one wrote.

    PostgreSQL: the rows FOR UPDATE, the profile first, then the ledgers in key order (the
    order every path takes them in; a ledger created later is created under the profile's
    lock). SQLite: the store's write lock (one writer at a time, across processes too).
    """
    if db.get_bind().dialect.name == "sqlite":
        fastsql.hold_write_lock(db)
        return
    if profile_id:
        fastsql.execute(db, LOCK_PROFILE, {"tenant": tenant_id, "profile": profile_id})
    parameters = {"tenant": tenant_id, "profile": profile_id, "card": card_identifier}
    fastsql.execute(db, LOCK_LEDGERS, parameters)


# --- writes --------------------------------------------------------------------------------


@dataclass
class Origin:
    """Where a row comes from: its kind (manual|session|import), session and rule."""

    kind: str = "session"
    session_id: str | None = None
    name: str = ""
    campaign_id: int | None = None
    ruleset_id: int | None = None
    rule_index: int | None = None
    rule_name: str | None = None
    uuid: str | None = None
    created: datetime | None = None


def new_transaction(
    db: Store,
    tenant_id: str,
    owner: Owner,
    subledger: str,
    now: datetime,
    *,
    type_: str,
    action: str,
    amount: float,
    origin: Origin,
    start_text: str = "immediate",
    expiry_text: str = "unlimited",
    validity_duration: str | None = None,
    related_uuid: str | None = None,
) -> TalonLoyaltyTransaction:
    transaction_id = take_id(db, tenant_id, TRANSACTION_IDS)
    row = TalonLoyaltyTransaction(
        tenant_id=tenant_id,
        id=transaction_id,
        program_id=owner.program_id,
        profile_id=owner.profile_id,
        card_identifier=owner.card_identifier,
        subledger_id=subledger,
        uuid=origin.uuid or transaction_uuid(tenant_id, transaction_id),
        type=type_,
        kind=origin.kind,
        action=action,
        name=origin.name,
        amount=amount,
        session_id=origin.session_id,
        campaign_id=origin.campaign_id,
        ruleset_id=origin.ruleset_id,
        rule_index=origin.rule_index,
        rule_name=origin.rule_name,
        start_text=start_text,
        expiry_text=expiry_text,
        validity_duration=validity_duration,
        related_uuid=related_uuid,
        created=origin.created or now,
    )
    db.add(row)
    return row


LOT_BATCH = 64


def active_lots(
    db: Store, tenant_id: str, owner: Owner, subledger: str, at: datetime
) -> Iterator[TalonLoyaltyLot]:
    """Active lots with points left, the soonest to expire first (unlimited last), then oldest.

    Read in small batches: a spend usually touches a few lots, however long the history is.
    Lots emptied by the caller drop out of the next batch (the session autoflushes)."""
    lot = TalonLoyaltyLot
    statement = (
        select(lot)
        .where(
            lot.tenant_id == tenant_id,
            *owner.where(lot),
            lot.subledger_id == subledger,
            lot.remaining > EPSILON,
            active_condition(at),
        )
        .order_by(lot.expiry_ts, lot.id)
        .limit(LOT_BATCH)
    )
    seen: set[int] = set()
    while True:
        batch = [row for row in db.scalars(statement) if row.id not in seen]
        if not batch:
            return
        for row in batch:
            seen.add(row.id)
            yield row
            if row.remaining > EPSILON:  # the caller stopped before emptying it: done
                return


def settle_debt(
    db: Store, tenant_id: str, owner: Owner, ledger: TalonLoyaltyLedger, now: datetime
) -> None:
    """Pay an outstanding negative balance from active points, oldest debt first."""
    if ledger.debt <= EPSILON:
        return
    debt_parts = list(
        db.scalars(
            select(TalonLoyaltySpend)
            .join(
                TalonLoyaltyTransaction,
                and_(
                    TalonLoyaltyTransaction.tenant_id == TalonLoyaltySpend.tenant_id,
                    TalonLoyaltyTransaction.id == TalonLoyaltySpend.transaction_id,
                ),
            )
            .where(
                TalonLoyaltySpend.tenant_id == tenant_id,
                TalonLoyaltySpend.lot_id.is_(None),
                TalonLoyaltySpend.amount > EPSILON,
                *owner.where(TalonLoyaltyTransaction),
                TalonLoyaltyTransaction.subledger_id == ledger.subledger_id,
            )
            .order_by(TalonLoyaltySpend.transaction_id)
        )
    )
    lots = active_lots(db, tenant_id, owner, ledger.subledger_id, now)
    lot = next(lots, None)
    for part in debt_parts:
        while part.amount > EPSILON and lot is not None:
            taken = min(lot.remaining, part.amount)
            lot.remaining -= taken
            part.amount -= taken
            ledger.debt -= taken
            db.add(
                TalonLoyaltySpend(
                    tenant_id=tenant_id,
                    transaction_id=part.transaction_id,
                    lot_id=lot.id,
                    amount=taken,
                )
            )
            if lot.remaining <= EPSILON:
                lot.remaining = 0.0
                lot = next(lots, None)
        if lot is None:
            break
    ledger.debt = max(ledger.debt, 0.0)


class BulkAdditions:
    """Additions collected as plain rows and written with two multi-row INSERTs (fixture loads
    of thousands of entries); `flush` must run before anything reads the ledger."""

    def __init__(self) -> None:
        self.transactions: list[dict] = []
        self.lots: list[dict] = []

    def flush(self, db: Store) -> None:
        if self.transactions:
            db.execute(insert(TalonLoyaltyTransaction), self.transactions)
            db.execute(insert(TalonLoyaltyLot), self.lots)
        self.transactions, self.lots = [], []


def addition_rows(
    tenant_id: str,
    owner: Owner,
    subledger: str,
    amount: float,
    now: datetime,
    origin: Origin,
    dates: LotDates,
    transaction_id: int,
    lot_id: int,
) -> tuple[dict, dict]:
    """The transaction row and the lot row of one addition, every column given."""
    uuid_ = origin.uuid or transaction_uuid(tenant_id, transaction_id)
    created = origin.created or now
    common = {
        "tenant_id": tenant_id,
        "program_id": owner.program_id,
        "profile_id": owner.profile_id,
        "card_identifier": owner.card_identifier,
        "subledger_id": subledger,
        "session_id": origin.session_id,
        "name": origin.name,
        "amount": amount,
        "start_text": dates.start_text,
        "expiry_text": dates.expiry_text,
        "validity_duration": dates.validity_duration,
        "created": created,
    }
    transaction = {
        **common,
        "id": transaction_id,
        "uuid": uuid_,
        "type": "addition",
        "kind": origin.kind,
        "action": "add",
        "campaign_id": origin.campaign_id,
        "ruleset_id": origin.ruleset_id,
        "rule_index": origin.rule_index,
        "rule_name": origin.rule_name,
        "creates_negative": False,
        "related_uuid": None,
    }
    lot = {
        **common,
        "id": lot_id,
        "transaction_id": transaction_id,
        "transaction_uuid": uuid_,
        "remaining": amount,
        "revoked": 0.0,
        "on_action": dates.on_action,
        "start_at": dates.start_at,
        "expiry_at": dates.expiry_at,
        "start_ts": start_ts_of(dates.on_action, dates.start_at),
        "expiry_ts": expiry_ts_of(dates.expiry_at),
    }
    return transaction, lot


# The addition of a session close, written by Core statements on the DBAPI cursor (no ORM
# object, no flush) when the ledger already exists and owes nothing.
_LEDGER_ROWS = TalonLoyaltyLedger.__table__
_LEDGER_KEY = [c.name for c in _LEDGER_ROWS.primary_key.columns]
BUMP_LEDGER = fastsql.prepared(
    update(_LEDGER_ROWS)
    .where(*(_LEDGER_ROWS.c[name] == bindparam(f"key_{name}") for name in _LEDGER_KEY))
    .values(version=bindparam("new_version"))
    .returning(_LEDGER_ROWS.c.debt)
)
INSERT_TRANSACTION = fastsql.prepared(insert(TalonLoyaltyTransaction.__table__))
INSERT_LOT = fastsql.prepared(insert(TalonLoyaltyLot.__table__))
# A new ledger row, unless another request created it meanwhile (then that one is used).
CREATE_LEDGER = fastsql.prepared(
    {
        name: dialect.insert(_LEDGER_ROWS).on_conflict_do_nothing(index_elements=_LEDGER_KEY)
        for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
    }
)


def claim_ledger(
    db: Store, tenant_id: str, owner: Owner, subledger: str, now: datetime
) -> float | None:
    """Create the ledger if it is new, give it a new version (the write lock on PostgreSQL, as
    ensure_ledger's FOR UPDATE) and return its debt; None when this transaction already holds
    the ledger as an ORM object that may have unflushed changes (only the ORM path can tell)."""
    cache = db.info.get(LEDGERS)
    if cache is not None and cache[0] is db.get_transaction():
        return None
    ledger = {
        "tenant_id": tenant_id,
        "program_id": owner.program_id,
        "profile_id": owner.profile_id,
        "card_identifier": owner.card_identifier,
        "subledger_id": subledger,
    }
    version = fresh_token()
    bump = {**{f"key_{name}": value for name, value in ledger.items()}, "new_version": version}
    debt = fastsql.execute(db, BUMP_LEDGER, bump).scalar()
    if debt is not None:
        return debt
    fastsql.execute(db, CREATE_LEDGER, {**ledger, "debt": 0.0, "version": version, "joined": now})
    return fastsql.execute(db, BUMP_LEDGER, bump).scalar()


def add_points(
    db: Store,
    tenant_id: str,
    program: TalonLoyaltyProgram,
    owner: Owner,
    subledger: str,
    amount: float,
    now: datetime,
    origin: Origin,
    dates: LotDates,
    bulk: BulkAdditions | None = None,
) -> PostResult | None:
    """Add a lot of points; with `bulk` (and no debt to repay) the rows are only collected and
    None is returned."""
    if amount <= 0:
        raise LedgerInputError("the amount of points must be positive")
    if bulk is None:
        debt = claim_ledger(db, tenant_id, owner, subledger, now)
        if debt is not None and debt <= EPSILON:
            transaction_id = take_id(db, tenant_id, TRANSACTION_IDS)
            transaction_row, lot_row = addition_rows(
                tenant_id,
                owner,
                subledger,
                amount,
                now,
                origin,
                dates,
                transaction_id,
                transaction_id,
            )
            fastsql.execute(db, INSERT_TRANSACTION, transaction_row)
            fastsql.execute(db, INSERT_LOT, lot_row)
            return PostResult(SimpleNamespace(**transaction_row), amount)
    ledger = ensure_ledger(db, tenant_id, owner, subledger, now)
    transaction_id = take_id(db, tenant_id, TRANSACTION_IDS)
    # A lot is its addition: it shares the transaction's number (one counter update, not two).
    transaction_row, lot_row = addition_rows(
        tenant_id, owner, subledger, amount, now, origin, dates, transaction_id, transaction_id
    )
    if bulk is not None and ledger.debt <= EPSILON:
        bulk.transactions.append(transaction_row)
        bulk.lots.append(lot_row)
        return None
    if bulk is not None:
        bulk.flush(db)
    transaction = TalonLoyaltyTransaction(**transaction_row)
    db.add(transaction)
    db.add(TalonLoyaltyLot(**lot_row))
    if ledger.debt > EPSILON:
        db.flush()
        settle_debt(db, tenant_id, owner, ledger, now)
    return PostResult(transaction, amount)


def consume(
    db: Store,
    tenant_id: str,
    owner: Owner,
    ledger: TalonLoyaltyLedger,
    transaction_id: int,
    amount: float,
    now: datetime,
    allow_negative: bool,
) -> tuple[float, list[TalonLoyaltySpend]]:
    """Take `amount` from active lots (FIFO), the rest as debt if allowed; returns what was taken."""
    settle_debt(db, tenant_id, owner, ledger, now)
    left = amount
    spends: list[TalonLoyaltySpend] = []
    if ledger.debt <= EPSILON:
        for lot in active_lots(db, tenant_id, owner, ledger.subledger_id, now):
            if left <= EPSILON:
                break
            taken = min(lot.remaining, left)
            lot.remaining -= taken
            if lot.remaining <= EPSILON:
                lot.remaining = 0.0
            left -= taken
            spends.append(
                TalonLoyaltySpend(
                    tenant_id=tenant_id, transaction_id=transaction_id, lot_id=lot.id, amount=taken
                )
            )
    if left > EPSILON and allow_negative:
        ledger.debt += left
        spends.append(
            TalonLoyaltySpend(
                tenant_id=tenant_id, transaction_id=transaction_id, lot_id=None, amount=left
            )
        )
        left = 0.0
    for spend in spends:
        db.add(spend)
    return amount - max(left, 0.0), spends


def deduct_points(
    db: Store,
    tenant_id: str,
    program: TalonLoyaltyProgram,
    owner: Owner,
    subledger: str,
    amount: float,
    now: datetime,
    origin: Origin,
) -> PostResult | None:
    """Spend active points, oldest first; beyond them a debt if the program allows it, else the
    deduction is capped at what is available. None when nothing could be deducted."""
    if amount <= 0:
        raise LedgerInputError("the amount of points must be positive")
    ledger = ensure_ledger(db, tenant_id, owner, subledger, now)
    transaction_id = take_id(db, tenant_id, TRANSACTION_IDS)
    debt_before = ledger.debt
    taken, spends = consume(
        db, tenant_id, owner, ledger, transaction_id, amount, now, program.allow_negative_balance
    )
    if taken <= EPSILON:
        return None
    transaction = TalonLoyaltyTransaction(
        tenant_id=tenant_id,
        id=transaction_id,
        program_id=owner.program_id,
        profile_id=owner.profile_id,
        card_identifier=owner.card_identifier,
        subledger_id=subledger,
        uuid=origin.uuid or transaction_uuid(tenant_id, transaction_id),
        type="subtraction",
        kind=origin.kind,
        action="deduct",
        name=origin.name,
        amount=taken,
        session_id=origin.session_id,
        campaign_id=origin.campaign_id,
        ruleset_id=origin.ruleset_id,
        rule_index=origin.rule_index,
        rule_name=origin.rule_name,
        creates_negative=ledger.debt > debt_before + EPSILON,
        created=origin.created or now,
    )
    db.add(transaction)
    db.flush()
    return PostResult(transaction, taken, spends)


def rolled_back(db: Store, tenant_id: str, original: TalonLoyaltyTransaction) -> float:
    """What rollbacks took back of `original` so far. A session closed again after a reopen
    posts its effects again under the same transaction UUID: the rollbacks of one posting are
    the rows naming that UUID after it and before the next posting of it."""
    tx = TalonLoyaltyTransaction
    same = (
        tx.tenant_id == tenant_id,
        tx.program_id == original.program_id,
        tx.session_id == original.session_id,
    )
    next_posting = (
        select(func.min(tx.id))
        .where(*same, tx.uuid == original.uuid, tx.id > original.id, tx.related_uuid.is_(None))
        .scalar_subquery()
    )
    statement = select(func.coalesce(func.sum(tx.amount), 0.0)).where(
        *same,
        tx.related_uuid == original.uuid,
        tx.id > original.id,
        or_(next_posting.is_(None), tx.id < next_posting),
    )
    return float(db.execute(statement).scalar_one())


def rollback_addition(
    db: Store,
    tenant_id: str,
    program: TalonLoyaltyProgram,
    original: TalonLoyaltyTransaction,
    value: float,
    now: datetime,
    origin: Origin,
) -> PostResult | None:
    """Take back up to `value` of an addition: from its own lot first (pending points always,
    active points only when the program deducts active points), then, when the lot was spent
    already, from other active points (or as debt where negative balances are allowed).
    What is left to take back is read under the ledger's lock (two rollbacks of one row
    never both take it)."""
    owner = Owner(original.program_id, original.profile_id, original.card_identifier)
    ledger = ensure_ledger(db, tenant_id, owner, original.subledger_id, now)
    value = min(value, original.amount - rolled_back(db, tenant_id, original))
    if value <= EPSILON:
        return None
    lot = db.scalars(
        select(TalonLoyaltyLot).where(
            TalonLoyaltyLot.tenant_id == tenant_id,
            # the UUID too, so the lookup is on ix_talonone_loyalty_lot_transaction
            TalonLoyaltyLot.transaction_uuid == original.uuid,
            TalonLoyaltyLot.transaction_id == original.id,
        )
    ).first()
    transaction_id = take_id(db, tenant_id, TRANSACTION_IDS)
    left = value
    if lot is not None:
        status = lot_status(lot, now)
        if status == "pending" or (status == "active" and program.active_points_deduction):
            taken = min(lot.remaining, left)
            lot.remaining -= taken
            lot.revoked += taken
            left -= taken
    debt_before = ledger.debt
    if left > EPSILON and program.active_points_deduction:
        taken, _ = consume(
            db, tenant_id, owner, ledger, transaction_id, left, now, program.allow_negative_balance
        )
        left -= taken
    posted = value - max(left, 0.0)
    if posted <= EPSILON:
        return None
    transaction = TalonLoyaltyTransaction(
        tenant_id=tenant_id,
        id=transaction_id,
        program_id=owner.program_id,
        profile_id=owner.profile_id,
        card_identifier=owner.card_identifier,
        subledger_id=original.subledger_id,
        uuid=transaction_uuid(tenant_id, transaction_id),
        type="subtraction",
        kind=origin.kind,
        action="rollback_add",
        name=origin.name or f"Rollback of {original.name}".strip(),
        amount=posted,
        session_id=original.session_id,
        campaign_id=original.campaign_id,
        ruleset_id=original.ruleset_id,
        rule_index=original.rule_index,
        rule_name=original.rule_name,
        creates_negative=ledger.debt > debt_before + EPSILON,
        related_uuid=original.uuid,
        created=now,
    )
    db.add(transaction)
    db.flush()
    return PostResult(transaction, posted)


def rollback_deduction(
    db: Store,
    tenant_id: str,
    original: TalonLoyaltyTransaction,
    value: float,
    now: datetime,
    origin: Origin,
) -> PostResult | None:
    """Give back up to `value` of a deduction: its debt part first, then the lots it consumed
    (most recently consumed first), each returning with its own dates. What is left to give
    back is read under the ledger's lock."""
    owner = Owner(original.program_id, original.profile_id, original.card_identifier)
    ledger = ensure_ledger(db, tenant_id, owner, original.subledger_id, now)
    value = min(value, original.amount - rolled_back(db, tenant_id, original))
    if value <= EPSILON:
        return None
    spends = list(
        db.scalars(
            select(TalonLoyaltySpend)
            .where(
                TalonLoyaltySpend.tenant_id == tenant_id,
                TalonLoyaltySpend.transaction_id == original.id,
                TalonLoyaltySpend.amount > EPSILON,
            )
            .order_by(TalonLoyaltySpend.lot_id.is_not(None), TalonLoyaltySpend.pk.desc())
        )
    )
    left = value
    for spend in spends:
        if left <= EPSILON:
            break
        given = min(spend.amount, left)
        spend.amount -= given
        left -= given
        if spend.lot_id is None:
            ledger.debt = max(ledger.debt - given, 0.0)
        else:
            lot = db.get(TalonLoyaltyLot, (tenant_id, spend.lot_id))
            if lot is not None:
                lot.remaining += given
    posted = value - max(left, 0.0)
    if posted <= EPSILON:
        return None
    transaction = new_transaction(
        db,
        tenant_id,
        owner,
        original.subledger_id,
        now,
        type_="addition",
        action="rollback_deduct",
        amount=posted,
        origin=Origin(
            kind=origin.kind,
            session_id=original.session_id,
            name=origin.name or f"Rollback of {original.name}".strip(),
            campaign_id=original.campaign_id,
            ruleset_id=original.ruleset_id,
            rule_index=original.rule_index,
            rule_name=original.rule_name,
        ),
        related_uuid=original.uuid,
    )
    db.flush()
    return PostResult(transaction, posted)


def activate_lot_dates(lot: TalonLoyaltyLot, now: datetime) -> None:
    """An on_action lot becomes active now; its validity duration then sets its expiry."""
    lot.on_action = False
    lot.start_at = now
    lot.start_ts = now.timestamp()
    lot.start_text = format_instant(now)
    if lot.validity_duration:
        lot.expiry_at = add_duration(now, lot.validity_duration)
        lot.expiry_ts = lot.expiry_at.timestamp()
        lot.expiry_text = format_instant(lot.expiry_at)
