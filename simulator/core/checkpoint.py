"""WAL checkpoints of SQLite stores, in a background thread instead of inside a request.

In WAL mode SQLite copies the log back into the database (a checkpoint, with its fsyncs) from
inside whichever commit makes the log pass `wal_autocheckpoint` pages. On a virtual disk that
costs the unlucky request several milliseconds, and the event loop, every request behind it:
a commit touching a few tables averaged 363 µs with automatic checkpoints and 76 µs without
the fsyncs on this machine. So the pool's connections checkpoint only as a last resort (a far
larger log, SAFETY_PAGES), and one thread per process runs a PASSIVE checkpoint on a connection
of its own whenever a store's log holds CHECKPOINT_BYTES of frames written since the last one.
The sqlite3 module releases the GIL while SQLite works, so requests go on meanwhile.
Durability is what synchronous=NORMAL gives either way: a commit survives the process; a
power loss may lose the last ones.

The frames are counted in the log itself (`log_position`), not by its file's size: SQLite
writes a checkpointed log again from its start and leaves the file as long as it was, so past
its first few MiB the size said nothing, and checkpointing whenever the file changed meant
every round (50 ms) under steady writes. A checkpoint copies each page written since the last
one, so a page written forty times a second was copied up to twenty times a second: under the
ECDP 10-customer update on the 100,000-customer store this thread took 0.088 ms of CPU a
request (0.024 ms now). The log's index (`-shm`) holds the same count, but this process may
not read it: closing any descriptor of that file drops the POSIX locks SQLite holds on it, and
the server died of SIGBUS when another connection then took the index for abandoned and cut
it short. The log file itself carries no lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import struct
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from simulator.core import background

log = logging.getLogger("simulator.checkpoint")

# Frames written since the last checkpoint before the next: 4,096 pages of 4 KiB, what one of
# the log index's hash tables holds (a read through the memory map looks each page up in every
# table holding frames not yet copied back: one or two this way). SQLite's own default is 1,000 pages; a
# checkpoint copies a page written many times in its window once, so a longer window copies
# less: the ECDP update of 10 of 100,000 customers, 0.071 ms of this thread's CPU a request at
# 4 MiB, 0.024 ms at 16 MiB.
CHECKPOINT_BYTES = 16 * 1024 * 1024
SAFETY_PAGES = 20_000  # the pool's connections checkpoint only if the thread falls far behind
DEFAULT_PAGE_SIZE = 4096  # SQLite's: the page SAFETY_PAGES counts
INTERVAL_SECONDS = 0.05
BACKOFF_SECONDS = 0.5
# After a checkpoint, at most this often: `PRAGMA optimize` brings the planner's statistics up
# to date for the tables that changed much since they were gathered (SQLite's advice for
# long-lived connections; bounded by ANALYSIS_LIMIT rows an index, a few ms).
OPTIMIZE_SECONDS = 60.0
ANALYSIS_LIMIT = 1000


# The log's format (https://sqlite.org/fileformat2.html#walformat), big-endian: a 32-byte
# header (magic, version, page size, checkpoint sequence, salt-1, salt-2, two checksums), then
# frames of a 24-byte header (page, database size, salt-1, salt-2, two checksums) and a page.
# A frame belongs to the log's current writing when its salts are the header's.
LOG_HEADER = struct.Struct(">IIIIII")
LOG_HEADER_BYTES = 32
FRAME_SALTS = struct.Struct(">8xII")
FRAME_HEADER_BYTES = 24
LOG_MAGIC = (0x377F0682, 0x377F0683)


@dataclass(frozen=True)
class LogPosition:
    """Where a store's log stands: its current writing (the salts SQLite draws each time it
    starts the log again) and how many frames that writing holds, in pages of `page_size`."""

    salts: tuple[int, int]
    frames: int
    page_size: int


def log_position(path: str) -> LogPosition | None:
    """The log of the store at `path` read as SQLite wrote it: the last frame carrying the
    header's salts, found by halving (frames of an earlier writing, left past it, carry other
    salts). None when there is no log or it is not one. Frames of a transaction still being
    written count too: a checkpoint comes a few frames early, no harm done."""
    try:
        descriptor = os.open(f"{path}-wal", os.O_RDONLY)
    except OSError:
        return None
    try:
        header = os.pread(descriptor, LOG_HEADER_BYTES, 0)
        if len(header) < LOG_HEADER_BYTES:
            return None
        magic, _version, page_size, _sequence, *salts = LOG_HEADER.unpack_from(header)
        if magic not in LOG_MAGIC or page_size < 512:
            return None
        frame_bytes = FRAME_HEADER_BYTES + page_size
        low, high = 0, (os.fstat(descriptor).st_size - LOG_HEADER_BYTES) // frame_bytes
        while low < high:  # frames 1..low carry the salts; is frame `middle` one of them?
            middle = (low + high + 1) // 2
            start = LOG_HEADER_BYTES + (middle - 1) * frame_bytes
            frame = os.pread(descriptor, FRAME_SALTS.size, start)
            if len(frame) == FRAME_SALTS.size and list(FRAME_SALTS.unpack(frame)) == salts:
                low = middle
            else:
                high = middle - 1
        return LogPosition((salts[0], salts[1]), low, page_size)
    finally:
        os.close(descriptor)


def safety_pages(page_size: int) -> int:
    """`wal_autocheckpoint` for a file of `page_size` pages: the same size of log in bytes
    as SAFETY_PAGES of SQLite's default page."""
    return max(1, SAFETY_PAGES * DEFAULT_PAGE_SIZE // page_size)


@dataclass
class WatchedStore:
    """What the checkpointer keeps of one store, dropped with it as one."""

    # The store's engine: the thread checkpoints the store while it lives. None: a store only
    # driven by calls (`checkpoint_if_due`), which the thread leaves alone.
    engine: weakref.ref | None
    connection: sqlite3.Connection | None = None  # the thread's own, opened on first checkpoint
    # The log as the last checkpoint left it: its writing's salts and the frames copied.
    copied: tuple[tuple[int, int], int] | None = None
    last_seen: LogPosition | None = None  # the log at the last round
    not_before: float = 0.0  # monotonic time of the next attempt (after one copied nothing)
    optimized: float = float("-inf")  # monotonic time of the last `PRAGMA optimize`

    def forget_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()


class Checkpointer:
    """One thread for every SQLite store of the process, each store kept while its engine is."""

    def __init__(self) -> None:
        self._stores: dict[str, WatchedStore] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def watch(self, path: str, engine: Any) -> None:
        """Checkpoint the store at `path` while `engine` lives (a store watched again keeps
        what was learnt of its log: that is the file's, whichever engine opened it)."""
        with self._lock:
            watched = self._stores.get(path)
            if watched is None:
                self._stores[path] = WatchedStore(weakref.ref(engine))
            else:
                watched.engine = weakref.ref(engine)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def watches(self, path: str) -> bool:
        watched = self._stores.get(path)
        return watched is not None and watched.engine is not None

    def has_checkpointed(self, path: str) -> bool:
        """Whether this checkpointer has checkpointed the store at `path` (while watched)."""
        watched = self._stores.get(path)
        return watched is not None and watched.copied is not None

    def _run(self) -> None:
        background.lower_priority()
        stop = threading.Event()
        while not stop.wait(INTERVAL_SECONDS):
            for path in self._live_paths():
                try:
                    self.checkpoint_if_due(path)
                except sqlite3.Error as exc:  # busy, or the file went away: next round
                    log.debug("checkpoint of %s skipped: %s", path, exc)
                    watched = self._stores.get(path)
                    if watched is not None:
                        watched.forget_connection()

    def _live_paths(self) -> list[str]:
        with self._lock:
            gone = [
                path
                for path, watched in self._stores.items()
                if watched.engine is not None and watched.engine() is None
            ]
            dropped = [self._stores.pop(path) for path in gone]
            paths = [path for path, watched in self._stores.items() if watched.engine is not None]
        for watched in dropped:
            watched.forget_connection()
        return paths

    def _watched(self, path: str) -> WatchedStore:
        """The record of `path`; a path driven by calls without `watch` gets one the thread
        leaves alone."""
        watched = self._stores.get(path)
        if watched is None:
            with self._lock:
                watched = self._stores.setdefault(path, WatchedStore(None))
        return watched

    def pending_bytes(self, path: str) -> int:
        """The pages written to the store's log since its last checkpoint here, in bytes (all
        of the log's current writing when SQLite has started it again since)."""
        return self._pending(path, log_position(path))

    def _pending(self, path: str, position: LogPosition | None) -> int:
        if position is None:
            return 0
        salts, copied = self._watched(path).copied or (None, 0)
        done = copied if salts == position.salts else 0
        return max(0, position.frames - done) * position.page_size

    def due(self, path: str) -> bool:
        """CHECKPOINT_BYTES written since the last checkpoint, or any frame once the log has
        stopped growing (a round without writes): a read through the memory map looks every
        page up among the frames not yet copied back, and skips the log once none are left.
        Remembers the log's position: "stopped growing" compares it with the last round's."""
        position = log_position(path)
        watched = self._watched(path)
        previous, watched.last_seen = watched.last_seen, position
        pending = self._pending(path, position)
        return pending >= CHECKPOINT_BYTES or (pending > 0 and position == previous)

    def checkpoint_if_due(self, path: str) -> bool:
        if not self.due(path):
            return False
        watched = self._watched(path)
        connection = watched.connection
        if connection is None:
            if not os.path.exists(path):
                return False
            connection = sqlite3.connect(path, timeout=0.1, check_same_thread=False)
            watched.connection = connection
        if time.monotonic() < watched.not_before:
            return False
        busy, _log_frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy or copied <= 0:
            # Nothing could be copied (a long write transaction holds the new frames): let it
            # finish instead of trying again every round.
            watched.not_before = time.monotonic() + BACKOFF_SECONDS
        position = log_position(path)
        if position is not None:
            watched.copied = (position.salts, max(0, copied))
        self.checkpoints += 1
        self._optimize_if_due(watched, connection)
        return True

    def _optimize_if_due(self, watched: WatchedStore, connection: sqlite3.Connection) -> None:
        now = time.monotonic()
        if now - watched.optimized < OPTIMIZE_SECONDS:
            return
        watched.optimized = now
        connection.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        # 0x10000: every table, not only those this connection has read (it reads none). A
        # store busy writing: the next round after OPTIMIZE_SECONDS.
        with contextlib.suppress(sqlite3.OperationalError):
            connection.execute("PRAGMA optimize=0x10002")


checkpointer = Checkpointer()
