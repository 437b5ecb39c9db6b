"""WAL checkpoints run in core.checkpoint's thread, not inside a request's commit."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

from sqlalchemy import text

from simulator.core import checkpoint
from simulator.core.checkpoint import CHECKPOINT_BYTES, SAFETY_PAGES, Checkpointer
from simulator.core.db import make_engine


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
    assert str(tmp_path / "a.db") in checkpoint.checkpointer._stores
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


def test_a_grown_log_is_checkpointed_once_and_the_data_stays(tmp_path: Path) -> None:
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


def test_the_thread_checkpoints_a_grown_log_by_itself(tmp_path: Path) -> None:
    path = str(tmp_path / "e.db")
    engine = make_engine(f"sqlite:///{path}")
    fill(engine, 6000)
    deadline = time.monotonic() + 10
    while path not in checkpoint.checkpointer._seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path in checkpoint.checkpointer._seen  # this store's log was checkpointed
    engine.dispose()


def test_a_small_log_is_left_alone(tmp_path: Path) -> None:
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
