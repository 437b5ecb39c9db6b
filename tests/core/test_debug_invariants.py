"""The store's invariants asserted in debug mode (SIM_DEBUG=1; docs/architecture.md,
"Transactions"): a grouped write lease is never held across an await, a request awaits its
commit only once its lease is closed, and the auth's `end_reads` never drops a write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from simulator.core import fastsql, groupcommit
from simulator.core.db import make_engine, new_session
from simulator.core.ids import next_value
from simulator.core.schema import ensure_schema
from simulator.core.store import end_reads


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/debug.db")
    ensure_schema(engine, True)
    groupcommit.enable(engine)
    yield engine
    engine.dispose()


async def hold_across_await(engine: Engine, held: asyncio.Event, done: asyncio.Event) -> None:
    """A request that breaks the rule: it awaits with its grouped lease open."""
    with fastsql.write_lease(engine, grouped=True) as lease:
        next_value(lease, "t", "held")
        held.set()
        await done.wait()
        lease.rollback()


async def second_request(engine: Engine) -> None:
    with fastsql.write_lease(engine, grouped=True) as lease:
        next_value(lease, "t", "second")
        fastsql.commit(lease)
    await lease.committed()


async def interleave(engine: Engine) -> None:
    held, done = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(hold_across_await(engine, held, done))
    await held.wait()
    try:
        await second_request(engine)
    finally:
        done.set()
        await holder


def test_a_lease_held_across_an_await_fails_in_debug_mode(engine, monkeypatch) -> None:
    monkeypatch.setenv("SIM_DEBUG", "1")
    with pytest.raises(AssertionError, match="held across an await"):
        asyncio.run(interleave(engine))


def test_without_debug_mode_the_broken_rule_silently_keeps_a_rolled_back_write(
    engine, monkeypatch
) -> None:
    """Why the rule matters (and the check exists): the second request's own connection
    commits the open group first, work of the lease still held included, so that lease's
    later rollback undoes nothing."""
    monkeypatch.delenv("SIM_DEBUG", raising=False)
    asyncio.run(interleave(engine))
    with new_session(engine) as session:
        stored = session.execute(text("SELECT name FROM id_sequence WHERE tenant_id = 't'"))
        assert sorted(row[0] for row in stored) == ["held", "second"]


def test_awaiting_the_commit_before_closing_the_lease_fails_in_debug_mode(
    engine, monkeypatch
) -> None:
    monkeypatch.setenv("SIM_DEBUG", "1")

    async def answer_too_early() -> None:
        with fastsql.write_lease(engine, grouped=True) as lease:
            next_value(lease, "t", "early")
            fastsql.commit(lease)  # kept in the group, not stored yet
            await lease.committed()

    with pytest.raises(AssertionError, match="once the lease is closed"):
        asyncio.run(answer_too_early())


def test_end_reads_refuses_to_drop_a_write_in_debug_mode(engine, monkeypatch) -> None:
    monkeypatch.setenv("SIM_DEBUG", "1")
    with new_session(engine) as session:
        next_value(session, "t", "written")
        with pytest.raises(AssertionError, match="a unit of work must commit it"):
            end_reads(session)
    with new_session(engine) as session:
        session.execute(text("SELECT 1"))
        end_reads(session)  # reads only: handed back
        assert not session.in_transaction()
