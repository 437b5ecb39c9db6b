"""WAL checkpoints of SQLite stores, in a background thread instead of inside a request.

In WAL mode SQLite copies the log back into the database (a checkpoint, with its fsyncs) from
inside whichever commit makes the log pass `wal_autocheckpoint` pages. On a virtual disk that
costs the unlucky request several milliseconds, and the event loop, every request behind it:
a commit touching a few tables averaged 363 µs with automatic checkpoints and 76 µs without
the fsyncs on this machine. So the pool's connections checkpoint only as a last resort (a far
larger log, SAFETY_PAGES), and one thread per process runs a PASSIVE checkpoint on a connection
of its own whenever a store's log has grown past CHECKPOINT_BYTES. The sqlite3 module releases
the GIL while SQLite works, so requests go on meanwhile. Durability is what synchronous=NORMAL
gives either way: a commit survives the process; a power loss may lose the last ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

from simulator.core import background

log = logging.getLogger("simulator.checkpoint")

CHECKPOINT_BYTES = 4 * 1024 * 1024  # about 1,000 pages: SQLite's own default threshold
SAFETY_PAGES = 20_000  # the pool's connections checkpoint only if the thread falls far behind
DEFAULT_PAGE_SIZE = 4096  # SQLite's: the page SAFETY_PAGES counts
INTERVAL_SECONDS = 0.05
BACKOFF_SECONDS = 0.5
# After a checkpoint, at most this often: `PRAGMA optimize` brings the planner's statistics up
# to date for the tables that changed much since they were gathered (SQLite's advice for
# long-lived connections; bounded by ANALYSIS_LIMIT rows an index, a few ms).
OPTIMIZE_SECONDS = 60.0
ANALYSIS_LIMIT = 1000


def safety_pages(page_size: int) -> int:
    """`wal_autocheckpoint` for a file of `page_size` pages: the same size of log in bytes
    as SAFETY_PAGES of SQLite's default page."""
    return max(1, SAFETY_PAGES * DEFAULT_PAGE_SIZE // page_size)


class Checkpointer:
    """One thread for every SQLite store of the process, each store kept while its engine is."""

    def __init__(self) -> None:
        self._stores: dict[str, weakref.ref] = {}
        self._connections: dict[str, sqlite3.Connection] = {}
        # The log's (size, mtime) after the last checkpoint: a log left as it was needs none.
        self._seen: dict[str, tuple[int, int]] = {}
        self._not_before: dict[str, float] = {}  # monotonic time of a store's next attempt
        self._optimized: dict[str, float] = {}  # monotonic time of a store's last optimize
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def watch(self, path: str, engine: Any) -> None:
        with self._lock:
            self._stores[path] = weakref.ref(engine)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        background.lower_priority()
        stop = threading.Event()
        while not stop.wait(INTERVAL_SECONDS):
            for path in self._live_paths():
                try:
                    self.checkpoint_if_due(path)
                except sqlite3.Error as exc:  # busy, or the file went away: next round
                    log.debug("checkpoint of %s skipped: %s", path, exc)
                    self._forget_connection(path)

    def _live_paths(self) -> list[str]:
        with self._lock:
            gone = [p for p, ref in self._stores.items() if ref() is None]
            for path in gone:
                del self._stores[path]
            paths = list(self._stores)
        for path in gone:
            self._forget_connection(path)
            self._seen.pop(path, None)
            self._optimized.pop(path, None)
        return paths

    def checkpoint_if_due(self, path: str) -> bool:
        try:
            stat = os.stat(f"{path}-wal")
        except OSError:
            return False
        seen = (stat.st_size, stat.st_mtime_ns)
        if stat.st_size < CHECKPOINT_BYTES or self._seen.get(path) == seen:
            return False
        connection = self._connections.get(path)
        if connection is None:
            if not os.path.exists(path):
                return False
            connection = sqlite3.connect(path, timeout=0.1, check_same_thread=False)
            self._connections[path] = connection
        if time.monotonic() < self._not_before.get(path, 0.0):
            return False
        busy, _log_frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy or copied <= 0:
            # Nothing could be copied (a long write transaction holds the new frames): let it
            # finish instead of trying again every round.
            self._not_before[path] = time.monotonic() + BACKOFF_SECONDS
        with contextlib.suppress(OSError):
            stat = os.stat(f"{path}-wal")
            self._seen[path] = (stat.st_size, stat.st_mtime_ns)
        self.checkpoints += 1
        self._optimize_if_due(path, connection)
        return True

    def _optimize_if_due(self, path: str, connection: sqlite3.Connection) -> None:
        now = time.monotonic()
        if now - self._optimized.get(path, float("-inf")) < OPTIMIZE_SECONDS:
            return
        self._optimized[path] = now
        connection.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        # 0x10000: every table, not only those this connection has read (it reads none). A
        # store busy writing: the next round after OPTIMIZE_SECONDS.
        with contextlib.suppress(sqlite3.OperationalError):
            connection.execute("PRAGMA optimize=0x10002")

    def _forget_connection(self, path: str) -> None:
        connection = self._connections.pop(path, None)
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()


checkpointer = Checkpointer()
