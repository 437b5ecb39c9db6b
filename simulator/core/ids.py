"""Identifiers: DB-backed counters (shared by processes) and seeded draws (repeatable runs)."""

from __future__ import annotations

import hashlib
import random
import secrets
import string

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from simulator.core import fastsql
from simulator.core.models import IdSequence

ALPHANUMERIC = string.ascii_uppercase + string.digits


# Built once: the hot paths of every API take ids, and building the statement costs more than
# running it.
_sequences = IdSequence.__table__
_TAKE = fastsql.prepared(
    update(_sequences)
    .where(
        _sequences.c.tenant_id == bindparam("sequence_tenant"),
        _sequences.c.name == bindparam("sequence_name"),
    )
    .values(value=_sequences.c.value + bindparam("sequence_step"))
    .returning(_sequences.c.value)
)


def next_value(session: Session, tenant_id: str, name: str, step: int = 1) -> int:
    """Atomically take the next value(s) of a per-tenant counter; returns the last one taken.

    Runs in the caller's transaction, so a rolled-back batch gives its numbers back.
    """
    parameters = {"sequence_tenant": tenant_id, "sequence_name": name, "sequence_step": step}
    value = fastsql.execute(session, _TAKE, parameters).scalar_one_or_none()
    if value is not None:
        return value
    try:
        with session.begin_nested():
            session.add(IdSequence(tenant_id=tenant_id, name=name, value=step))
        return step
    except IntegrityError:
        return fastsql.execute(session, _TAKE, parameters).scalar_one()


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
