"""The in-memory view of what one batch touches, written back with bulk statements.

A batch loads the customers and balances it needs with a few `IN` queries, changes them in
memory line by line, then writes everything at once (`write`: inserts, updates by key, new
transactions, its undo state) in the caller's transaction. The same object keeps the
before-image of every customer and balance it touched, which is the undo state of the batch.
Until `write`, a batch has only read: it can be prepared outside a write transaction
(clienttoolbox/writes), its counters taken from a CounterPlan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from simulator.clienttoolbox.errors import ClientToolboxError
from simulator.clienttoolbox.models import CtBalance, CtCustomer, CtTransaction, CtUndoState
from simulator.core import fastsql
from simulator.core.ids import CounterPlan, DirectCounters, seeded_rng
from simulator.core.store import Store

CUSTOMERS = CtCustomer.__table__
BALANCES = CtBalance.__table__
TRANSACTIONS = CtTransaction.__table__
UNDO_STATES = CtUndoState.__table__
CHUNK = 500
DIGITS = "0123456789"

BalanceKey = tuple[str, str, str]  # (customer code, campaign id, item)


def chunks(values: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# A batch's writes (Ledger.bind): each runs in the write transaction on the session.
Step = Callable[[Session], Any]
INSERT_CUSTOMERS = fastsql.prepared(insert(CUSTOMERS))
INSERT_BALANCES = fastsql.prepared(insert(BALANCES))
INSERT_TRANSACTIONS = fastsql.prepared(insert(TRANSACTIONS))
INSERT_UNDO_STATE = fastsql.prepared(insert(UNDO_STATES))
UPDATE_BALANCE = fastsql.prepared(
    update(BALANCES)
    .where(
        BALANCES.c.tenant_id == bindparam("k_tenant"),
        BALANCES.c.customer_code == bindparam("k_code"),
        BALANCES.c.campaign_id == bindparam("k_campaign"),
        BALANCES.c.item == bindparam("k_item"),
    )
    .values(balance=bindparam("k_balance"))
)


@lru_cache(maxsize=16)
def update_customers(columns: tuple[str, ...]) -> fastsql.Prepared:
    """UPDATE of the given customer columns by key (one per set of columns a batch writes)."""
    t = CUSTOMERS.c
    return fastsql.prepared(
        update(CUSTOMERS)
        .where(t.tenant_id == bindparam("k_tenant"), t.code == bindparam("k_code"))
        .values({name: bindparam(name) for name in columns})
    )


def bound(dialect: Dialect, statement: fastsql.Prepared, rows: list[dict[str, Any]]) -> list[Step]:
    """`rows` for `statement`, bound now and run later on the DBAPI cursor (or, for what only
    SQLAlchemy runs, executed by it then)."""
    if not rows:
        return []
    try:
        return [partial(_run_bound, part) for part in fastsql.bind_many(dialect, statement, rows)]
    except fastsql.NotFast:
        core = statement.statement_for(dialect)
        return [
            partial(Session.execute, statement=core, params=part) for part in chunks(rows, 1000)
        ]


def _run_bound(part: fastsql.Bound, session: Store) -> Any:
    return fastsql.run_bound(session, part)


# The profile columns a customers_batch may write (header name = column name).
PROFILE_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "custom_date",
    "street1",
    "street2",
    "city",
    "state",
    "postal_code",
    "country",
    "customer_username",
    "customer_password",
    "customer_pin",
)


def blank_customer(tenant_id: str, code: str, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(PROFILE_COLUMNS, "")
    row.update(tenant_id=tenant_id, code=code, card_number=None, custom_fields="{}")
    row.update(last_batch=0, created_at=now, updated_at=now)
    return row


def to_json_values(row: dict[str, Any], columns: list[str]) -> list[Any]:
    """The given columns of a customer row as a JSON-ready list (datetimes as ISO text)."""
    values = [row[name] for name in columns]
    return [v.isoformat() if isinstance(v, datetime) else v for v in values]


def from_json_values(columns: list[str], values: list[Any]) -> dict[str, Any]:
    restored = dict(zip(columns, values, strict=True))
    for key in ("created_at", "updated_at"):
        if isinstance(restored.get(key), str):
            restored[key] = datetime.fromisoformat(restored[key])
    return restored


class Ledger:
    def __init__(
        self,
        session: Store,
        tenant_id: str,
        batch_id: int,
        now: datetime,
        keep_before: bool = True,
        written_columns: Iterable[str] | None = None,
        counters: CounterPlan | DirectCounters | None = None,
    ) -> None:
        """`keep_before`: keep before-images (for an undo state); `written_columns`: the
        customer columns this batch may change (None: all of them); `counters`: where the
        batch takes numbers (default: the session's counters, in its transaction)."""
        self.session = session
        self.counters = counters or DirectCounters(session)
        # (batch type, lines, summary) of the undo state `write` records, if any.
        self.undo_record: tuple[str, int, dict[str, Any]] | None = None
        self.steps: list[Step] | None = None  # what `write` runs, once bound
        self.keep_before = keep_before
        self.written_columns = [
            c.name
            for c in CUSTOMERS.c
            if c.name not in ("tenant_id", "code")
            and (
                written_columns is None or c.name in {*written_columns, "last_batch", "updated_at"}
            )
        ]
        self.tenant_id = tenant_id
        self.batch_id = batch_id
        self.now = now
        self.customers: dict[str, dict[str, Any]] = {}
        self.by_card: dict[str, str] = {}
        self.created: set[str] = set()
        self.changed: set[str] = set()
        self.customers_before: dict[str, list[Any] | None] = {}
        self.balances: dict[BalanceKey, float] = {}
        self.balances_before: dict[BalanceKey, float | None] = {}
        self.balances_dirty: set[BalanceKey] = set()
        self.loaded_balances_for: set[str] = set()
        self.transactions: list[dict[str, Any]] = []

    # --- customers -------------------------------------------------------------------------

    def load_customers(self, codes: Iterable[str], cards: Iterable[str] = ()) -> None:
        """Load the customers whose code or card number is among the given values."""
        t = CUSTOMERS.c
        wanted_codes = {c for c in codes if c}
        self._load(t.code, wanted_codes)
        found = set(self.customers)
        self._load(
            t.card_number, {c for c in cards if c and c not in found and c not in self.by_card}
        )

    def _load(self, column: Any, values: set[str]) -> None:
        """Only the columns the batch reads or may write (created_at never changes).

        The rows are locked for the rest of the batch (PostgreSQL: FOR UPDATE, in the order of
        the column, as an undo locks them): what the batch writes rests on what it read here.
        On SQLite the batch holds the store's write lock already (its number was taken)."""
        t = CUSTOMERS.c
        names = {"code", "card_number", *self.written_columns}
        selected = [c for c in CUSTOMERS.c if c.name in names]
        for part in chunks(sorted(values)):
            rows = self.session.execute(
                select(*selected)
                .where(t.tenant_id == self.tenant_id, column.in_(part))
                .order_by(column)
                .with_for_update()
            ).mappings()
            for row in rows:
                if row["code"] not in self.customers:
                    self.remember(dict(row))

    def remember(self, row: dict[str, Any]) -> None:
        self.customers[row["code"]] = row
        if row["card_number"]:
            self.by_card[row["card_number"]] = row["code"]

    def by_code(self, code: str) -> dict[str, Any] | None:
        return self.customers.get(code)

    def by_card_number(self, card: str) -> dict[str, Any] | None:
        code = self.by_card.get(card)
        return self.customers.get(code) if code is not None else None

    def find(self, key: str) -> dict[str, Any] | None:
        """A transaction's `code` is the customer's code or its card number."""
        return self.by_code(key) or self.by_card_number(key)

    def create_customer(self, code: str) -> dict[str, Any]:
        row = blank_customer(self.tenant_id, code, self.now)
        row["last_batch"] = self.batch_id
        self.customers[code] = row
        self.created.add(code)
        self.customers_before.setdefault(code, None)
        self.loaded_balances_for.add(code)
        return row

    def touch(self, row: dict[str, Any]) -> None:
        """Record the before-image (first touch only) and mark the row as written by the batch."""
        code = row["code"]
        if self.keep_before and code not in self.created and code not in self.customers_before:
            self.customers_before[code] = to_json_values(row, self.written_columns)
        if code not in self.created:
            self.changed.add(code)
        row["last_batch"] = self.batch_id
        row["updated_at"] = self.now

    def set_card(self, row: dict[str, Any], card: str | None) -> None:
        old = row["card_number"]
        if old and self.by_card.get(old) == row["code"]:
            del self.by_card[old]
        row["card_number"] = card or None
        if card:
            self.by_card[card] = row["code"]

    # --- balances --------------------------------------------------------------------------

    def load_balances(self, codes: Iterable[str]) -> None:
        wanted = [c for c in set(codes) if c not in self.loaded_balances_for]
        t = BALANCES.c
        for part in chunks(wanted):
            rows = self.session.execute(
                select(t.customer_code, t.campaign_id, t.item, t.balance).where(
                    t.tenant_id == self.tenant_id, t.customer_code.in_(part)
                )
            )
            for code, campaign, item, balance in rows:
                self.balances[(code, campaign, item)] = balance
        self.loaded_balances_for.update(wanted)

    def balance(self, key: BalanceKey) -> float | None:
        return self.balances.get(key)

    def set_balance(self, key: BalanceKey, value: float) -> None:
        if key not in self.balances_before:
            self.balances_before[key] = self.balances.get(key)
        self.balances[key] = round(value, 4)
        self.balances_dirty.add(key)

    def enroll(self, code: str, campaign_id: str) -> None:
        """Make sure the customer has a (zero) balance in the campaign."""
        key = (code, campaign_id, "")
        if key not in self.balances:
            self.set_balance(key, 0.0)

    # --- transactions ----------------------------------------------------------------------

    def add_transaction(self, values: dict[str, Any]) -> None:
        values.update(tenant_id=self.tenant_id, batch_id=self.batch_id, created_at=self.now)
        self.transactions.append(values)

    # --- writing ---------------------------------------------------------------------------

    def keep_undo_state(self, batch_type: str, lines: int, summary: dict[str, Any]) -> None:
        """Have `write` record this batch's undo state."""
        self.undo_record = (batch_type, lines, summary)

    def write(self) -> None:
        """Everything the batch changed, and its undo state, in the session's transaction."""
        for step in self.bind():
            step(self.session)

    def bind(self) -> list[Step]:
        """The batch's writes, their parameters bound for the DBAPI (once; a second call gives
        the same): SQLAlchemy's handling of 10,000 rows' parameters costs as much as SQLite's
        inserts, so clienttoolbox/writes binds before it takes the store's lock."""
        if self.steps is None:
            dialect = self.session.get_bind().dialect
            inserted_balances, updated_balances = self.balance_rows()
            created = [self.customers[code] for code in self.created]
            self.steps = [
                *bound(dialect, INSERT_CUSTOMERS, created),
                *self.changed_customer_steps(dialect),
                *bound(dialect, INSERT_BALANCES, inserted_balances),
                *bound(dialect, UPDATE_BALANCE, updated_balances),
                *bound(dialect, INSERT_TRANSACTIONS, self.transactions),
                *bound(dialect, INSERT_UNDO_STATE, self.undo_state_rows()),
            ]
        return self.steps

    def changed_customer_steps(self, dialect: Dialect) -> list[Step]:
        if not self.changed:
            return []
        t = CUSTOMERS.c
        columns = self.written_columns
        if set(columns) == {"last_batch", "updated_at"}:
            return [
                partial(
                    Session.execute,
                    statement=update(CUSTOMERS)
                    .where(t.tenant_id == self.tenant_id, t.code.in_(part))
                    .values(last_batch=self.batch_id, updated_at=self.now),
                )
                for part in chunks(self.changed)
            ]
        rows = []
        for code in self.changed:
            row = self.customers[code]
            rows.append(
                {"k_tenant": self.tenant_id, "k_code": code, **{n: row[n] for n in columns}}
            )
        return bound(dialect, update_customers(tuple(columns)), rows)

    def balance_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(balances to insert, balances to update, as UPDATE_BALANCE takes them)."""
        inserts, updates = [], []
        for key in self.balances_dirty:
            code, campaign, item = key
            if self.balances_before.get(key) is None:
                inserts.append(
                    {
                        "tenant_id": self.tenant_id,
                        "customer_code": code,
                        "campaign_id": campaign,
                        "item": item,
                        "balance": self.balances[key],
                    }
                )
            else:
                updates.append(
                    {
                        "k_tenant": self.tenant_id,
                        "k_code": code,
                        "k_campaign": campaign,
                        "k_item": item,
                        "k_balance": self.balances[key],
                    }
                )
        return inserts, updates

    def undo_state_rows(self) -> list[dict[str, Any]]:
        if self.undo_record is None:
            return []
        batch_type, lines, summary = self.undo_record
        return [
            {
                "tenant_id": self.tenant_id,
                "id": self.batch_id,
                "batch_type": batch_type,
                "lines": lines,
                "summary": json.dumps(summary),
                "before": self.before_image(),
                "status": "available",
                "created_at": self.now,
                "undone_at": None,
            }
        ]

    def before_image(self) -> str:
        """As JSON text, written by orjson: the standard library's encoder holds the
        interpreter lock for the whole document (~40 ms for 10,000 customers), and the event
        loop's thread waits for it (core/offloop); orjson takes a tenth of that."""
        image = {
            "columns": self.written_columns,
            "customers": self.customers_before,
            "balances": [[*key, value] for key, value in self.balances_before.items()],
        }
        try:
            return orjson.dumps(image).decode()
        except TypeError:  # what orjson refuses (a lone surrogate, an integer past 64 bits)
            return json.dumps(image, separators=(",", ":"))


class UniqueDigits:
    """Seeded, all-numeric values of a fixed length, unique in a customer column.

    Candidates come from the tenant's counter `purpose` (reserved in blocks) and the global seed,
    so a run with the same seed and the same calls gives the same numbers. Each block is checked
    against the store with one query.
    """

    def __init__(
        self,
        ledger: Ledger,
        seed: int,
        purpose: str,
        length: int,
        column: str,
        *taken: Any,
    ) -> None:
        self.ledger = ledger
        self.seed = seed
        self.purpose = purpose
        self.length = length
        self.column = CUSTOMERS.c[column]
        self.taken = taken  # containers of values this batch already uses or will use
        self.pool: list[str] = []
        self.attempts = 0

    def take(self) -> str:
        while not self.pool:
            self.refill()
        return self.pool.pop()

    def refill(self, block: int = 256) -> None:
        self.attempts += 1
        if self.attempts > 50:
            raise ClientToolboxError(
                400,
                f"Cannot generate more unique {self.length}-digit values for {self.column.name}",
            )
        session, tenant_id = self.ledger.session, self.ledger.tenant_id
        last = self.ledger.counters.next_value(tenant_id, self.purpose, step=block)
        candidates = []
        for n in range(last - block + 1, last + 1):
            rng = seeded_rng(self.seed, tenant_id, self.purpose, n)
            first = rng.choice("123456789")
            candidates.append(first + "".join(rng.choice(DIGITS) for _ in range(self.length - 1)))
        found = set(
            session.execute(
                select(self.column).where(
                    CUSTOMERS.c.tenant_id == tenant_id, self.column.in_(candidates)
                )
            ).scalars()
        )
        fresh: dict[str, None] = {}  # ordered and unique
        for value in candidates:
            if value not in found and not any(value in container for container in self.taken):
                fresh[value] = None
        self.pool = list(reversed(fresh))


def delete_batch_transactions(session: Store, tenant_id: str, batch_id: int) -> int:
    t = TRANSACTIONS.c
    result = session.execute(
        delete(TRANSACTIONS).where(t.tenant_id == tenant_id, t.batch_id == batch_id)
    )
    return result.rowcount or 0
