"""Identifiers: DB-backed counters (shared by processes) and seeded draws (repeatable runs)."""

from __future__ import annotations

import hashlib
import random
import secrets
import string
from functools import partial
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from simulator.core import fastsql
from simulator.core.db import table_of
from simulator.core.groupcommit import HeldCounter
from simulator.core.models import IdSequence
from simulator.core.store import Store

ALPHANUMERIC = string.ascii_uppercase + string.digits


# Built once: the hot paths of every API take ids, and building the statement costs more than
# running it.
_sequences = table_of(IdSequence)
_TAKE = fastsql.prepared(
    update(_sequences)
    .where(
        _sequences.c.tenant_id == bindparam("sequence_tenant"),
        _sequences.c.name == bindparam("sequence_name"),
    )
    .values(value=_sequences.c.value + bindparam("sequence_step"))
    .returning(_sequences.c.value)
)


def next_value(session: Store, tenant_id: str, name: str, step: int = 1) -> int:
    """Atomically take the next value(s) of a per-tenant counter; returns the last one taken.

    Runs in the caller's transaction, so a rolled-back batch gives its numbers back. In a
    commit group (core/groupcommit) the row is written once: the group then holds it locked
    until it commits, so later values come from memory and the last is written back then.
    """
    group = fastsql.group_of(session)
    key = (_sequences.name, tenant_id, name)
    if group is not None:
        held = group.counters.get(key)
        if held is not None:
            held.value += step
            return held.value
    parameters = {"sequence_tenant": tenant_id, "sequence_name": name, "sequence_step": step}
    value = fastsql.execute(session, _TAKE, parameters).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.add(IdSequence(tenant_id=tenant_id, name=name, value=step))
            value = step
        except IntegrityError:
            value = fastsql.execute(session, _TAKE, parameters).scalar_one()
    if group is not None:
        group.hold(key, HeldCounter(value, value, partial(_store, tenant_id, name)))
    return value


class NumberedInsert:
    """An INSERT of a row whose `id` is the next value of a per-tenant counter.

    On PostgreSQL (no commit group there) the counter's UPDATE and the INSERT are one statement
    (`WITH taken AS (UPDATE id_sequence ... RETURNING value) INSERT ... SELECT taken.value,
    ...`): one round trip instead of two, and the counter's row is locked from that statement
    to the commit only. Elsewhere (SQLite, whose commit group keeps counters in memory), and
    for a counter not stored yet: `next_value`, then the INSERT.

    `unique_on`: the columns of a unique index whose clash (another request inserted the row
    first) leaves the row out instead of failing the statement (ON CONFLICT DO NOTHING: no
    savepoint needed on PostgreSQL to go on after it); `insert` then answers None.
    """

    def __init__(self, table: Table, unique_on: tuple[str, ...] = ()) -> None:
        self.unique_on = unique_on
        columns = list(table.c)
        taken = (
            update(_sequences)
            .where(
                _sequences.c.tenant_id == bindparam("sequence_tenant"),
                _sequences.c.name == bindparam("sequence_name"),
            )
            .values(value=_sequences.c.value + 1)
            .returning(_sequences.c.value)
            .cte("taken")
        )
        row = select(
            *[
                taken.c.value if column.key == "id" else bindparam(column.key, type_=column.type)
                for column in columns
            ]
        )
        combined = postgres_insert(table).from_select([column.key for column in columns], row)
        plain_postgres = postgres_insert(table)
        plain_sqlite = sqlite_insert(table)
        if unique_on:
            combined = combined.on_conflict_do_nothing(index_elements=list(unique_on))
            plain_postgres = plain_postgres.on_conflict_do_nothing(index_elements=list(unique_on))
            plain_sqlite = plain_sqlite.on_conflict_do_nothing(index_elements=list(unique_on))
        self.combined = fastsql.prepared({"postgresql": combined.returning(table.c.id)})
        self.plain = fastsql.prepared(
            {"postgresql": plain_postgres, "sqlite": plain_sqlite, "": insert(table)}
        )

    def insert(self, db: Store, tenant_id: str, name: str, values: dict[str, Any]) -> int | None:
        """Insert `values` (every column but `id`, which is set in them); the id, or None when
        the row of `unique_on` was there already (the counter has moved on all the same)."""
        if fastsql.dialect_of(db).name == "postgresql" and fastsql.group_of(db) is None:
            parameters = {**values, "sequence_tenant": tenant_id, "sequence_name": name}
            parameters.pop("id", None)
            found = fastsql.execute(db, self.combined, parameters).first()
            if found is not None:
                values["id"] = found[0]
                return found[0]
            if self.unique_on and _counter_exists(db, tenant_id, name):
                return None  # the counter moved: the unique index refused the row
            # No counter row yet (a new tenant's first row): the usual way creates it.
        values["id"] = next_value(db, tenant_id, name)
        inserted = fastsql.execute(db, self.plain, values).rowcount
        return values["id"] if inserted else None


_COUNTER = fastsql.prepared(
    select(_sequences.c.value).where(
        _sequences.c.tenant_id == bindparam("sequence_tenant"),
        _sequences.c.name == bindparam("sequence_name"),
    )
)


def _counter_exists(db: Store, tenant_id: str, name: str) -> bool:
    parameters = {"sequence_tenant": tenant_id, "sequence_name": name}
    return fastsql.execute(db, _COUNTER, parameters).first() is not None


_STORE = f"UPDATE {_sequences.name} SET value = ? WHERE tenant_id = ? AND name = ?"


def _store(tenant_id: str, name: str, connection: Any, value: int) -> None:
    """A held counter's last value written back (SQLite: grouped leases are SQLite's)."""
    connection.execute(_STORE, (value, tenant_id, name))


_READ = f"SELECT value FROM {_sequences.name} WHERE tenant_id = :tenant AND name = :name"


class CounterPlan:
    """Counters taken by work prepared outside a write transaction (core/offloop): each is read
    once, its values handed out in memory, and the last written with the work's writes
    (`write`). The caller makes sure nothing else took from them in between (a guard of its
    own, checked in the write transaction)."""

    def __init__(self, session: Store) -> None:
        self.session = session
        self.taken: dict[tuple[str, str], list[int]] = {}  # key -> [stored, last handed out]

    def next_value(self, tenant_id: str, name: str, step: int = 1) -> int:
        key = (tenant_id, name)
        counter = self.taken.get(key)
        if counter is None:
            stored = self.session.execute(
                text(_READ), {"tenant": tenant_id, "name": name}
            ).scalar_one_or_none()
            counter = self.taken[key] = [stored or 0, stored or 0]
        counter[1] += step
        return counter[1]

    def write(self, session: Store) -> None:
        for (tenant_id, name), (stored, value) in self.taken.items():
            if value == stored:
                continue
            updated = session.execute(
                update(_sequences)
                .where(_sequences.c.tenant_id == tenant_id, _sequences.c.name == name)
                .values(value=value)
            ).rowcount
            if not updated:
                session.add(IdSequence(tenant_id=tenant_id, name=name, value=value))
        session.flush()


class DirectCounters:
    """`next_value` on a session, with CounterPlan's interface (work done in one transaction)."""

    def __init__(self, session: Store) -> None:
        self.session = session

    def next_value(self, tenant_id: str, name: str, step: int = 1) -> int:
        return next_value(self.session, tenant_id, name, step)

    def write(self, session: Store) -> None:
        """Nothing left to write: each value was taken in the transaction."""


def seeded_rng(seed: int, *parts: object) -> random.Random:
    """A random source fixed by the global seed and the given parts (tenant, purpose, n)."""
    key = ":".join(str(p) for p in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def seeded_code(seed: int, *parts: object, length: int = 10, alphabet: str = ALPHANUMERIC) -> str:
    rng = seeded_rng(seed, *parts)
    return "".join(rng.choice(alphabet) for _ in range(length))


def random_secret(prefix: str, nbytes: int = 18) -> str:
    """Fresh credentials are secrets, not seeded: they must not be guessable."""
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"
