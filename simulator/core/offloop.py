"""Work too heavy for the event loop runs in a worker thread, and writes without stalling it.

Handlers run their short queries inline on the event loop (core/db). A batch of 10,000 lines,
a large fixture load or an upload's processing would hold the loop for as long as it runs,
and every other request of the process would wait for it: such work runs in a worker thread
(`run`) with a session of its own, in one transaction as before.

SQLite has one writer at a time. While a worker thread holds the store's write lock, a write on
the event loop would wait for it there (`busy_timeout`), and the loop with it. So a thread
announces its write phase (`writing`), and the API requests that may write (any method but
GET, HEAD and OPTIONS) wait, without holding the loop, until the thread writers they found have
finished (`WriterGate.wait`, awaited by the API middleware); reads go on (WAL readers never
wait). A thread keeps its write phase short where it can: it prepares (parses, checks, reads)
first, and takes the lock only for its writes. PostgreSQL locks rows, not the store: there
nothing waits.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy.engine import Engine

T = TypeVar("T")

# Requests that may write wait for the thread writers; these never write the store.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` in a worker thread; its result or exception, here. The
    caller's request goes on waiting if its client leaves (the work is not abandoned half
    done: it commits or rolls back as a whole)."""
    with _sharing_the_interpreter():
        return await anyio.to_thread.run_sync(partial(function, *args, **kwargs))


# While worker threads run Python, the event loop's thread waits for the interpreter lock each
# time it comes back from a system call: up to the switch interval (5 ms by default), several
# times a request. A shorter interval while (and only while) work runs off the loop keeps a
# small request's wait at a few milliseconds (measured: p99 of a GET beside a 10,000-line
# batch 30-40 ms at 5 ms, 14-17 ms at 1 ms); with no such work, nothing changes.
BUSY_SWITCH_INTERVAL = 0.001
_running = [0, 0.0]  # worker threads running off-loop work; the interval to go back to
_running_lock = threading.Lock()


@contextmanager
def _sharing_the_interpreter() -> Iterator[None]:
    with _running_lock:
        if _running[0] == 0:
            _running[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(_running[1], BUSY_SWITCH_INTERVAL))
        _running[0] += 1
    try:
        yield
    finally:
        with _running_lock:
            _running[0] -= 1
            if _running[0] == 0:
                sys.setswitchinterval(_running[1])


class WriterGate:
    """The worker threads of this process in a write phase on one SQLite store, and the
    requests of event loops waiting for them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writers: set[int] = set()
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future, set[int]]] = []
        self.tokens = itertools.count(1)

    def enter(self) -> int:
        with self.lock:
            token = next(self.tokens)
            self.writers.add(token)
            return token

    def leave(self, token: int) -> None:
        with self.lock:
            self.writers.discard(token)
            ready = [w for w in self.waiters if not w[2] & self.writers]
            self.waiters = [w for w in self.waiters if w[2] & self.writers]
        for loop, future, _ in ready:
            loop.call_soon_threadsafe(_settle, future)

    async def wait(self) -> None:
        """Until the writers present now have left (not those that come later: a stream of
        thread writers cannot hold a request back for longer than one write phase)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self.lock:
            present = set(self.writers)
            if not present:
                return
            self.waiters.append((loop, future, present))
        await future


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


_gates: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()
_gates_lock = threading.Lock()


def gate_of(engine: Engine) -> WriterGate | None:
    """The engine's gate (made on first use); None for a store that needs none."""
    gate = _gates.get(engine)
    if gate is not None or engine.dialect.name != "sqlite":
        return gate
    with _gates_lock:
        return _gates.setdefault(engine, WriterGate())


@contextmanager
def writing(engine: Engine) -> Iterator[None]:
    """Around a worker thread's write transaction (its commit inside)."""
    gate = gate_of(engine)
    if gate is None:
        yield
        return
    token = gate.enter()
    try:
        yield
    finally:
        gate.leave(token)


def thread_writing(engine: Engine) -> bool:
    """A worker thread of this process is in a write phase on `engine`'s store now."""
    gate = _gates.get(engine)
    return gate is not None and bool(gate.writers)
