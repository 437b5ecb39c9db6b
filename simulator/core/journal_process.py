"""The journal's writer as a process of its own (SQLite stores with a journal file).

A writer thread shares the server's interpreter lock: while it turns a batch into rows and
steps SQLite through them (a lock hand-over a row), the event loop waits for the lock, and a
one-connection read's p99 was 1.3-1.4 ms with the journal on against 0.5 ms with it off (the
thread idle but handed the same entries: 0.53 ms). Here the server encodes each entry as it
records it (orjson, a few microseconds on the request) and its writer thread only passes the
encoded batches down a pipe (`os.writev`, without the lock); a child process
(`python -m simulator.core.journal_process`) stores them with the same code the thread runs
(`Journal.store_batch`, `Journal.trim_to_bounds`: text made storable, one executemany,
the trim).
docs/adr/0006-journal-writer-process.md has the measurements and the invariants.

The pipe carries frames, each a kind byte and a 4-byte length, then the payload:

- `B`: a batch, entries one after another, each a 4-byte length and its JSON;
- `S`: settle these tenants (JSON: a list of ids, or null for those written since);
- `D`: report when everything before is done (payload: a sequence number);
- `Q`: quit once everything before is done.

The child answers on its stdout with lines: `done <seq>` and `dropped <count>`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO

import orjson

try:  # POSIX: pipes sized and read ahead of time; elsewhere the journal keeps its thread
    import fcntl
    import termios
except ImportError:  # pragma: no cover - Windows
    fcntl = termios = None  # type: ignore[assignment]

# Whether this system can run the writer process (Journal falls back to its thread).
AVAILABLE = fcntl is not None and hasattr(os, "writev")

log = logging.getLogger("simulator.journal")

HEADER = struct.Struct(">cI")
LENGTH = struct.Struct(">I")
# os.writev takes at most IOV_MAX (1024 on Linux) buffers a call.
BUFFERS_A_CALL = 1000
# Stop waits this long for the child to store what it was handed.
STOP_SECONDS = 30.0
# The pipe holds this much (Linux's default /proc/sys/fs/pipe-max-size) where the system lets
# it, so a burst of entries waits there rather than in the server.
PIPE_BYTES = 1 << 20
# The child is behind when this much waits in the pipe after a frame: it then stores at a low
# but normal priority until it has caught up, and at idle priority otherwise.
BEHIND_BYTES = 256 * 1024


def encoded(
    entry: dict[str, Any], storable: Callable[[dict[str, Any]], dict[str, Any]]
) -> bytes | None:
    """The entry as its length and JSON (the request's part of the work); text JSON cannot
    carry (a lone surrogate) is made storable first. None for an entry no store could take
    (a value that is no text, number or instant): the caller counts it dropped."""
    try:
        payload = orjson.dumps(entry)
    except orjson.JSONEncodeError:
        try:
            payload = orjson.dumps(storable(entry))
        except orjson.JSONEncodeError:
            return None
    return LENGTH.pack(len(payload)) + payload


def decoded(payload: bytes) -> list[dict[str, Any]]:
    """The entries of a `B` frame, their instants parsed back."""
    entries = []
    offset, end = 0, len(payload)
    while offset < end:
        (length,) = LENGTH.unpack_from(payload, offset)
        offset += LENGTH.size
        entry = orjson.loads(payload[offset : offset + length])
        offset += length
        entry["created_at"] = datetime.fromisoformat(entry["created_at"])
        entries.append(entry)
    return entries


class WriterProcess:
    """The parent's end: a child storing the journal of the store at `database_url`."""

    def __init__(
        self, database_url: str, max_entries: int, on_dropped: Callable[[int], None]
    ) -> None:
        self._on_dropped = on_dropped
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator.core.journal_process",
                database_url,
                str(max_entries),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(OSError, AttributeError):  # Linux only; a smaller pipe works
            fcntl.fcntl(self.process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._pipe = self.process.stdin
        self._answers = self.process.stdout
        self._lock = threading.Lock()
        self._waiting: dict[int, threading.Event] = {}
        self._sequence = 0
        self.alive = True
        self._reader = threading.Thread(target=self._read, name="journal-answers", daemon=True)
        self._reader.start()

    # --- to the child (the journal's writer thread)

    def _send(self, kind: bytes, parts: list[bytes]) -> None:
        buffers = [HEADER.pack(kind, sum(map(len, parts))), *parts]
        fd = self._pipe.fileno()
        for start in range(0, len(buffers), BUFFERS_A_CALL):
            chunk = buffers[start : start + BUFFERS_A_CALL]
            written = os.writev(fd, chunk)
            total = sum(map(len, chunk))
            while written < total:  # a partial write: the rest, from where it stopped
                rest = b"".join(chunk)[written:]
                written += os.write(fd, rest)

    def send_batch(self, batch: list[bytes]) -> None:
        self._send(b"B", batch)

    def send_settle(self, tenant_ids: set[str | None] | None) -> None:
        ids = None if tenant_ids is None else sorted(tenant_ids, key=lambda t: (t is None, t))
        self._send(b"S", [orjson.dumps(ids)])

    def send_done(self, event: threading.Event) -> None:
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            if not self.alive:
                event.set()
                return
            self._waiting[sequence] = event
        self._send(b"D", [str(sequence).encode()])

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # the child is already gone: nothing to tell it
            self._send(b"Q", [])
            self._pipe.close()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("the journal's writer did not stop in %s s: killed", STOP_SECONDS)
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)

    # --- from the child (a thread of its own, blocked in read without the lock)

    def _read(self) -> None:
        for line in self._answers:
            word, _, number = line.decode("ascii", "replace").strip().partition(" ")
            if word == "done" and number.isdigit():
                with self._lock:
                    event = self._waiting.pop(int(number), None)
                if event is not None:
                    event.set()
            elif word == "dropped" and number.isdigit():
                self._on_dropped(int(number))
        with self._lock:  # the child is gone: nobody waits for it
            self.alive = False
            waiting, self._waiting = self._waiting, {}
        for event in waiting.values():
            event.set()


# --- the child ------------------------------------------------------------------------------


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def waiting_bytes(source: BinaryIO) -> int:
    """How much waits in the pipe (0 where the system cannot tell)."""
    try:
        return struct.unpack("i", fcntl.ioctl(source.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except (OSError, ValueError, AttributeError):
        return 0


class Priority:
    """The child's scheduling: idle priority (SCHED_IDLE: it runs only on a core nothing else
    wants, and gives way the moment the server's thread wakes) while it keeps up; a low normal
    one (core/background's nice value) while it is behind, so a server kept busy cannot starve
    it. Leaving idle priority needs a privilege or an RLIMIT_NICE most containers do not
    grant: where a thread cannot, the low normal priority throughout."""

    def __init__(self) -> None:
        self.idle: bool | None = None
        self.adaptive = hasattr(os, "SCHED_IDLE") and _may_leave_idle()

    def keep_up(self, behind: bool) -> None:
        idle = self.adaptive and not behind
        if idle == self.idle:
            return
        self.idle = idle
        if self.adaptive:
            _set_idle(idle)


def _set_idle(idle: bool) -> bool:
    """The calling thread at idle priority, or back at the normal one; whether it could."""
    try:
        policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
        os.sched_setscheduler(0, policy, os.sched_param(0))
        return True
    except (OSError, AttributeError):
        return False


def _may_leave_idle() -> bool:
    """Whether a thread of this process at its nice value may go idle and come back: tried by
    a thread of its own, whose scheduling is its own."""
    answer: list[bool] = []

    def probe() -> None:
        answer.append(_set_idle(True) and _set_idle(False))

    thread = threading.Thread(target=probe, name="journal-priority-probe")
    thread.start()
    thread.join()
    return bool(answer and answer[0])


def serve(database_url: str, max_entries: int, source: BinaryIO, answers: BinaryIO) -> None:
    """Store what arrives on `source` until `Q` or the end of the pipe."""
    from sqlalchemy import create_engine

    from simulator.core import background
    from simulator.core.journal import Journal, store_of
    from simulator.core.metrics import Metrics

    # Niced for good (a nice value stays under either policy), idle while keeping up.
    background.lower_priority()
    priority = Priority()
    priority.keep_up(behind=False)
    # The server's store: the journal's file lies beside it, and tenants' journal quotas are
    # read from it. A plain engine: this process never writes it.
    engine = create_engine(database_url)
    metrics = Metrics()
    journal = Journal(engine, max_entries, metrics=metrics)
    store_of(engine)

    def answer(line: str) -> None:
        answers.write(line.encode() + b"\n")
        answers.flush()

    try:
        while True:
            header = _read_exactly(source, HEADER.size)
            if header is None:
                return
            kind, length = HEADER.unpack(header)
            payload = _read_exactly(source, length) if length else b""
            if payload is None:
                return
            dropped_before = metrics.journal_dropped
            if kind == b"B":
                journal.store_batch(decoded(payload))
            elif kind == b"S":
                ids = orjson.loads(payload)
                journal.trim_to_bounds(None if ids is None else set(ids))
            elif kind == b"D":
                answer(f"done {payload.decode()}")
            elif kind == b"Q":
                return
            if metrics.journal_dropped > dropped_before:
                answer(f"dropped {metrics.journal_dropped - dropped_before}")
            priority.keep_up(behind=waiting_bytes(source) >= BEHIND_BYTES)
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    # Ctrl-C in a terminal reaches the whole process group: the server stops the child (`Q`,
    # or the end of the pipe) once it has handed over what it recorded.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="journal writer: %(levelname)s %(message)s")
    database_url, max_entries = argv[0], int(argv[1])
    serve(database_url, max_entries, sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
