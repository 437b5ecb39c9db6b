"""WAL checkpoints run in core.checkpoint's thread, not inside a request's commit."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from simulator.core import checkpoint
from simulator.core.checkpoint import SAFETY_PAGES, Checkpointer
from simulator.core.db import make_engine

# The tests' threshold: a log of ~6 MB is past it (the server's own is 16 MiB).
CHECKPOINT_BYTES = 4 * 1024 * 1024


@pytest.fixture(autouse=True)
def smaller_threshold(monkeypatch) -> None:
    monkeypatch.setattr(checkpoint, "CHECKPOINT_BYTES", CHECKPOINT_BYTES)


@pytest.fixture
def unwatched(monkeypatch) -> None:
    """Stores the test's own Checkpointer drives, kept from the process's thread: it would
    checkpoint them between the test's steps (a log it copies back starts again)."""
    monkeypatch.setattr(checkpoint.checkpointer, "watch", lambda path, engine: None)


def fill(engine, rows: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, v TEXT)")
        )
    for start in range(0, rows, 500):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO filler (v) VALUES (:v)"),
                [{"v": "x" * 1000} for _ in range(start, min(rows, start + 500))],
            )


def test_pool_connections_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as connection:
        pages = connection.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    assert pages == SAFETY_PAGES
    assert checkpoint.checkpointer.watches(str(tmp_path / "a.db"))
    engine.dispose()


def test_a_store_is_read_through_a_memory_map_unless_switched_off(
    tmp_path: Path, monkeypatch
) -> None:
    from simulator.config import get_settings

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA mmap_size")).scalar() == 256 * 1024 * 1024
    engine.dispose()
    monkeypatch.setenv("SIM_SQLITE_MMAP_BYTES", "0")
    get_settings.cache_clear()
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA mmap_size")).scalar() == 0
        engine.dispose()
    finally:
        monkeypatch.delenv("SIM_SQLITE_MMAP_BYTES")
        get_settings.cache_clear()


def test_a_grown_log_is_checkpointed_once_and_the_data_stays(tmp_path: Path, unwatched) -> None:
    path = str(tmp_path / "b.db")
    engine = make_engine(f"sqlite:///{path}")
    fill(engine, 6000)  # ~6 MB of log: past the threshold, below the pool's own
    assert os.path.getsize(f"{path}-wal") >= CHECKPOINT_BYTES
    own = Checkpointer()
    assert own.checkpoint_if_due(path) is True
    assert own.checkpoint_if_due(path) is False  # nothing written since
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM filler")).scalar() == 6000
    engine.dispose()


def test_a_log_written_again_waits_for_as_many_new_frames(tmp_path: Path, unwatched) -> None:
    """SQLite writes a checkpointed log again from its start and leaves the file as long as it
    was: a few commits after a checkpoint must not bring the next one (each copies every page
    written since the last one, with two fsyncs), CHECKPOINT_BYTES of new frames must."""
    path = str(tmp_path / "r.db")
    engine = make_engine(f"sqlite:///{path}")
    fill(engine, 6000)
    own = Checkpointer()
    assert own.checkpoint_if_due(path) is True
    fill(engine, 10)
    assert os.path.getsize(f"{path}-wal") >= CHECKPOINT_BYTES  # the file was not shortened
    assert 0 < own.pending_bytes(path) < 100 * 4096
    assert own.checkpoint_if_due(path) is False
    fill(engine, 10)  # the log grew since the last round: writes go on
    assert own.checkpoint_if_due(path) is False
    fill(engine, 6000)
    assert own.pending_bytes(path) >= CHECKPOINT_BYTES
    assert own.checkpoint_if_due(path) is True
    assert own.pending_bytes(path) == 0
    assert own.checkpoint_if_due(path) is False  # nothing written since
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM filler")).scalar() == 12020
    engine.dispose()


def test_a_log_that_stopped_growing_is_copied_back_whole(tmp_path: Path, unwatched) -> None:
    """Reads through the memory map look each page up among the frames not yet copied back:
    once writes pause (a round without any), the checkpoint copies the rest, however few."""
    path = str(tmp_path / "q.db")
    engine = make_engine(f"sqlite:///{path}")
    own = Checkpointer()
    fill(engine, 10)
    assert own.checkpoint_if_due(path) is False  # first seen: may be growing
    fill(engine, 10)
    assert own.checkpoint_if_due(path) is False  # grew since
    assert own.checkpoint_if_due(path) is True  # the same as a round ago
    assert own.pending_bytes(path) == 0
    assert own.checkpoint_if_due(path) is False  # nothing left
    engine.dispose()


def test_the_log_position_is_the_frames_sqlite_counts(tmp_path: Path, unwatched) -> None:
    path = str(tmp_path / "p.db")
    engine = make_engine(f"sqlite:///{path}")
    assert checkpoint.log_position(str(tmp_path / "none.db")) is None
    fill(engine, 300)
    position = checkpoint.log_position(path)
    with engine.connect() as connection:
        _busy, frames, _copied = connection.exec_driver_sql("PRAGMA wal_checkpoint").one()
    assert position is not None and position.frames == frames > 0
    assert position.page_size == 4096
    engine.dispose()
    junk = tmp_path / "junk.db"
    Path(f"{junk}-wal").write_bytes(b"not a log" * 10)  # what is not a log counts nothing
    assert checkpoint.log_position(str(junk)) is None


def test_the_thread_checkpoints_a_grown_log_by_itself(tmp_path: Path) -> None:
    path = str(tmp_path / "e.db")
    engine = make_engine(f"sqlite:///{path}")
    fill(engine, 6000)
    deadline = time.monotonic() + 10
    while not checkpoint.checkpointer.has_checkpointed(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert checkpoint.checkpointer.has_checkpointed(path)  # this store's log was checkpointed
    engine.dispose()


def test_a_small_log_is_left_alone(tmp_path: Path, unwatched) -> None:
    path = str(tmp_path / "c.db")
    engine = make_engine(f"sqlite:///{path}")
    fill(engine, 10)
    assert Checkpointer().checkpoint_if_due(path) is False
    engine.dispose()


def test_a_dropped_engine_is_forgotten(tmp_path: Path) -> None:
    own = Checkpointer()
    path = str(tmp_path / "d.db")
    engine = make_engine(f"sqlite:///{path}")
    own.watch(path, engine)
    assert own._live_paths() == [path]
    engine.dispose()
    del engine
    gc.collect()
    assert own._live_paths() == []
    assert not own.watches(path)  # what was kept of it went with it


def test_a_store_driven_by_calls_is_left_to_its_caller(tmp_path: Path, unwatched) -> None:
    own = Checkpointer()
    path = str(tmp_path / "f.db")
    engine = make_engine(f"sqlite:///{path}")
    fill(engine, 10)
    own.checkpoint_if_due(path)
    assert not own.watches(path)
    assert own._live_paths() == []  # the thread would not checkpoint it
    engine.dispose()
