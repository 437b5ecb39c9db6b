"""Identifiers: DB-backed counters (shared by processes) and seeded draws (repeatable runs)."""

from __future__ import annotations

import hashlib
import random
import secrets
import string
from functools import partial
from typing import Any

from sqlalchemy import bindparam, text, update
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
