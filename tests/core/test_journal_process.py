"""The journal stored by a process of its own (core/journal_process, ADR 0006): every journal
test again with the process on, then what only the process has — its frames, its start and
stop, a writer gone midway."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from simulator.core.db import make_engine, new_session
from simulator.core.journal import Journal, storable, store_of
from simulator.core.journal_process import decoded, encoded
from simulator.core.metrics import Metrics
from simulator.core.models import JournalEntry
from tests.core.test_journal import *  # noqa: F403 - every journal test, with the process on
from tests.core.test_journal import entry


@pytest.fixture
def make_settings(make_settings: Any) -> Any:
    """conftest's settings, with the writer process on."""
    return lambda **overrides: make_settings(**{"journal_writer_process": True, **overrides})


def test_an_entry_travels_as_it_was_recorded() -> None:
    recorded = entry(path="/a/é", query="x=1", created_at=datetime(2026, 12, 6, 1, 2, 3, 45, UTC))
    frame = encoded(dict(recorded), storable)
    assert frame is not None
    (back,) = decoded(frame)
    assert back == recorded


def test_text_json_cannot_carry_is_made_storable_and_other_values_refused() -> None:
    frame = encoded(entry(path="/lone-\ud800"), storable)
    assert frame is not None and decoded(frame)[0]["path"] == "/lone-\ufffd"
    assert encoded(entry(request_body=object()), storable) is None


def writer_pid(journal: Journal) -> int:
    assert journal._process is not None
    return journal._process.process.pid


def stored(engine: Any, path_prefix: str = "/") -> int:
    with new_session(store_of(engine)) as session:
        statement = select(func.count()).where(JournalEntry.path.startswith(path_prefix))
        return session.execute(statement).scalar_one()


def run_journal(tmp_path: Any, steps: Any, max_entries: int = 10_000) -> Any:
    """`steps(journal)` on a journal with the writer process, over an SQLite store of its own
    (whichever store the suite runs on: the process exists for SQLite's journal file)."""
    import simulator.models_index  # noqa: F401 - every table

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    SQLModel.metadata.create_all(engine)  # the tenants' quotas are read from it
    store_of(engine)
    metrics = Metrics()
    journal = Journal(engine, max_entries, metrics=metrics, writer_process=True)

    async def scenario() -> Any:
        journal.start(3600)
        try:
            return await asyncio.to_thread(steps, journal)
        finally:
            await journal.stop()

    result = asyncio.run(scenario())
    return engine, metrics, result


def test_the_writer_process_stores_bounds_and_stops(tmp_path: Any) -> None:
    def steps(journal: Journal) -> int:
        assert journal._process is None  # started with the first entries, not with the server
        for i in range(30):
            journal.record(entry(tenant_id="default", path=f"/bounded/{i}"))
        journal.settle({"default"})
        assert stored(journal.engine, "/bounded/") == 10
        return writer_pid(journal)

    engine, metrics, pid = run_journal(tmp_path, steps, max_entries=10)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone with the journal
    assert metrics.journal_dropped == 0
    engine.dispose()


def test_entries_the_store_refuses_are_counted_by_the_server(tmp_path: Any) -> None:
    def steps(journal: Journal) -> None:
        journal.record(entry(path="/fine"))
        journal.record(entry(path="/refused", status=None))  # NOT NULL, refused by SQLite
        journal.record(entry(path="/unencodable", request_body=object()))
        journal.settle()

    engine, metrics, _ = run_journal(tmp_path, steps)
    assert stored(engine, "/fine") == 1 and stored(engine, "/refused") == 0
    assert metrics.journal_dropped == 2
    engine.dispose()


def test_a_writer_gone_midway_costs_no_later_entry_and_no_wait(tmp_path: Any) -> None:
    def steps(journal: Journal) -> None:
        journal.record(entry(path="/before"))
        journal.settle()
        os.kill(writer_pid(journal), signal.SIGKILL)
        journal._process.process.wait()  # type: ignore[union-attr]
        for i in range(5):
            journal.record(entry(path=f"/after/{i}"))
        journal.settle()  # must not wait for the gone process
        journal.record(entry(path="/later"))
        journal.settle()

    engine, _, _ = run_journal(tmp_path, steps)
    assert stored(engine, "/before") == 1
    assert stored(engine, "/later") == 1
    engine.dispose()


def test_a_store_without_a_journal_file_has_no_writer_process() -> None:
    """An in-memory store here; PostgreSQL's is the same case (journal_path: None)."""
    import simulator.models_index  # noqa: F401 - every table

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    SQLModel.metadata.create_all(engine)
    journal = Journal(engine, 100, writer_process=True)

    async def scenario() -> None:
        journal.start(3600)
        try:
            assert journal._process is None
            journal.record(entry(path="/thread"))
            journal.settle()
            assert stored(engine, "/thread") == 1
        finally:
            await journal.stop()

    asyncio.run(scenario())
    engine.dispose()
