"""Group commit on SQLite: the writes of the requests one event-loop turn serves, committed once.

A SQLite commit writes every page the transaction changed to the log, two system calls a page,
whatever else is going on: about half of a session update's own SQL time here. Requests that
arrive together mostly touch the same pages (the ends of the tables and their indexes, the
counters, the tenant's rows), so the requests an event-loop turn runs share one transaction on
one connection kept for the purpose, each inside a savepoint of its own:

- a request's `commit()` keeps its work in the group (RELEASE, then a fresh SAVEPOINT), its
  `rollback()` undoes what it did since (ROLLBACK TO), and whatever it leaves uncommitted is
  undone when its lease closes, so a rejected request leaves no trace and never disturbs the
  others;
- the group commits in a callback scheduled when its first request finishes, which the loop runs
  after every request that was ready in the same turn; each request answers only once that
  commit is done (`await lease.committed()`), so no client hears of a write that is not stored;
- a writer on any other connection of this process and thread (an ORM Session, an admin call,
  the stream worker) first commits the open group (the pool's checkout hook), and a group that
  failed to commit fails every request in it: none answers success;
- a counter row (core.ids) is written by the first request of the group that takes a number;
  the others take theirs in memory while the group holds the row locked, a rejected request
  gives its numbers back, and the last number is written before the commit.

The requests of one group are serialised on its connection, so each sees what the earlier ones
wrote, exactly as if each had committed on its own. Only SQLite stores group; PostgreSQL commits
each request as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from simulator.config import get_settings
from simulator.core.store import debug_checks

log = logging.getLogger("simulator.groupcommit")

SAVEPOINT = "simulator_request"  # around each request
KEPT = "simulator_kept"  # inside it, where the request last committed
_serials = itertools.count(1)


class StoreConnection(sqlite3.Connection):
    """The DBAPI connection of every SQLite store (`make_engine` passes it as the factory); it
    also lends one cursor for the statements of core.fastsql and of the commit group
    (`statement_cursor`: each is read to its end before the next).

    While a grouped lease uses it (`group` is set), `commit()` keeps the lease's work in the open
    group and `rollback()` undoes what the lease did since it last committed, whoever calls them:
    the lease itself, an ORM Session over it, SQLAlchemy's pool. Otherwise they are SQLite's own.
    """

    group: Group | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.serial = next(_serials)  # tells this connection from any later one at its address
        self.statement_cursor = self.cursor()  # lent to fastsql and the commit group

    def commit(self) -> None:
        group = self.group
        if group is None:
            super().commit()
        else:
            group.keep()

    def rollback(self) -> None:
        group = self.group
        if group is None:
            super().rollback()
        else:
            group.undo()


@dataclass
class HeldCounter:
    """A counter row the open group has written (so it holds it locked until its commit):
    further values are handed out in memory and the last one written back at the commit."""

    stored: int  # what the row holds in the group's transaction
    value: int  # the last value handed out
    store: Callable[[StoreConnection, int], None]  # writes a value back to the row


class Group:
    """The writes of the grouped leases of one engine and one event loop.

    At most one lease is active at a time (a lease never awaits while it is open); `enter` gives
    it the group's connection inside a savepoint, `leave` ends it and returns a future to await
    when the lease kept some work (its commit), or None.
    """

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        self.thread = threading.current_thread()
        self.raw: Any = None  # the pooled connection the group keeps checked out
        self.pooled_cache_size: int | None = None  # its cache_size before the group's, restored
        self.dbapi: StoreConnection | None = None
        self.open = False  # a transaction of the group is open on the connection
        self.active: object | None = None  # the lease using the connection now
        self.active_task: asyncio.Task | None = None  # its task (kept in debug mode only)
        self.kept = False  # the active lease committed some work
        self.changes = 0  # the connection's total_changes when the active lease last saved
        # Counters the group holds (`hold`), and their values when the active lease last saved.
        self.counters: dict[Any, HeldCounter] = {}
        self.saved_counters: dict[Any, tuple[int, int]] = {}
        self.waiting: list[asyncio.Future] = []
        self.scheduled = False
        self.commits = 0  # groups committed (for tests and figures)

    # --- one lease ------------------------------------------------------------------------

    def enter(self, lease: object) -> Any | None:
        """The connection for `lease`, inside a fresh savepoint; None when another lease is
        active (the caller takes a connection of its own).

        In debug mode (`store.debug_checks()`) a lease of another task finding one active is
        an AssertionError: that lease's request awaited while it held the group's connection,
        which breaks "never await inside a lease" (its savepoint would interleave with others;
        without the check the second request quietly takes a connection of its own)."""
        if debug_checks():
            self.check_not_held_across_await()
        if self.active is not None:
            return None
        if self.raw is None:
            self.raw = self.engine.raw_connection()
            self.dbapi = self.raw.dbapi_connection
            self.pooled_cache_size = writer_cache(self.dbapi)
        dbapi = self.dbapi
        assert dbapi is not None
        cursor = dbapi.statement_cursor
        if not self.open:
            # IMMEDIATE: the write lock from the start, so no other writer can commit between
            # a request's reads and its writes (a deferred transaction would then fail to write).
            cursor.execute("BEGIN IMMEDIATE")
            self.open = True
        cursor.execute(f"SAVEPOINT {SAVEPOINT}")
        self.active = lease
        if debug_checks():
            self.active_task = asyncio.current_task()
        self.kept = False
        self.saved()
        dbapi.group = self
        return self.raw

    def check_not_held_across_await(self) -> None:
        """Debug mode: the active lease (if any) belongs to the task asking now."""
        holder = self.active_task
        if self.active is None or holder is None:
            return
        current = asyncio.current_task()
        assert holder is current, (
            "group commit: a grouped write lease was held across an await (task"
            f" {holder.get_name()} still holds it while task"
            f" {current.get_name() if current else '?'} runs); close the lease before awaiting"
        )

    def version(self) -> tuple[int, int]:
        """What the active lease's reads rest on: changes whenever another connection has
        committed to the store since (SQLite's data_version; the group's own writes do not
        count, and no grouped request writes a tenant row)."""
        dbapi = self.dbapi
        assert dbapi is not None
        cursor = dbapi.statement_cursor
        return dbapi.serial, cursor.execute("PRAGMA data_version").fetchone()[0]

    def keep(self) -> None:
        """The active lease's commit: its work so far belongs to the group (a savepoint
        inside its own marks where a later rollback goes back to)."""
        assert self.dbapi is not None
        self.dbapi.statement_cursor.execute(f"SAVEPOINT {KEPT}")
        self.kept = True
        self.saved()

    def undo(self) -> None:
        """The active lease's rollback: what it did since it last committed is undone."""
        assert self.dbapi is not None
        self.dbapi.statement_cursor.execute(f"ROLLBACK TO {KEPT if self.kept else SAVEPOINT}")
        self.restore_counters()
        self.changes = self.total_changes()

    def total_changes(self) -> int:
        assert self.dbapi is not None
        return self.dbapi.total_changes

    def saved(self) -> None:
        """The active lease's savepoint was (re)made: what to come back to."""
        self.changes = self.total_changes()
        if self.counters or self.saved_counters:
            self.saved_counters = {k: (c.stored, c.value) for k, c in self.counters.items()}

    def restore_counters(self) -> None:
        """Back to the counters as they were at the savepoint (the rows were rolled back)."""
        if not self.counters and not self.saved_counters:
            return
        for key in list(self.counters):
            if key not in self.saved_counters:
                del self.counters[key]
        for key, (stored, value) in self.saved_counters.items():
            self.counters[key].stored, self.counters[key].value = stored, value

    def hold(self, key: Any, counter: HeldCounter) -> None:
        """The active lease wrote a counter row: further values of it come from memory until
        the group commits."""
        self.counters[key] = counter

    def store_counters(self) -> None:
        """Write back what was handed out in memory (before any commit)."""
        assert self.dbapi is not None
        for counter in self.counters.values():
            if counter.value != counter.stored:
                counter.store(self.dbapi, counter.value)
                counter.stored = counter.value

    def forget_counters(self) -> None:
        """After a commit: another writer may change the rows before the group writes again."""
        self.counters.clear()
        self.saved_counters.clear()

    def leave(self, lease: object) -> asyncio.Future | None:
        """End `lease`: what it did not commit is undone; a future when it kept work."""
        if self.active is not lease:
            return None
        dbapi = self.dbapi
        assert dbapi is not None
        cursor = dbapi.statement_cursor
        dbapi.group = None
        self.active = None
        self.active_task = None
        try:
            if dbapi.total_changes != self.changes:
                cursor.execute(f"ROLLBACK TO {KEPT if self.kept else SAVEPOINT}")
            cursor.execute(f"RELEASE {SAVEPOINT}")  # and every savepoint inside it
            self.restore_counters()
        except sqlite3.Error:
            log.exception("a grouped request could not be ended; its group is rolled back")
            self.fail(RuntimeError("the group's transaction was lost"))
            return None
        if not self.kept:
            if not self.waiting and not self.scheduled:
                self.end_empty()
            return None
        future = self.loop.create_future()
        self.waiting.append(future)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.commit_scheduled)
        return future

    # --- the whole group ------------------------------------------------------------------

    def commit_scheduled(self) -> None:
        self.scheduled = False
        self.commit()

    def commit(self) -> None:
        """Commit what the group kept and wake its requests. Called with a lease active (a
        pooled connection checked out in the middle of a grouped request), the lease's work so
        far is committed too and it goes on in a new deferred transaction."""
        if not self.open:
            return
        dbapi = self.dbapi
        assert dbapi is not None
        waiting, self.waiting = self.waiting, []
        active = self.active
        dbapi.group = None
        try:
            self.store_counters()
            sqlite3.Connection.commit(dbapi)
        except sqlite3.Error as exc:
            self.waiting = waiting
            self.fail(exc)
            if active is not None:  # the request that asked for it fails too, undone with it
                raise
            return
        self.open = False
        self.commits += 1
        self.forget_counters()
        for future in waiting:
            if not future.done():
                future.set_result(None)
        if active is not None:
            if dbapi.total_changes != self.changes:
                log.warning("a grouped request was committed before it finished")
            # Deferred: the writer that asked for this commit must be able to take the lock.
            dbapi.statement_cursor.execute("BEGIN")
            dbapi.statement_cursor.execute(f"SAVEPOINT {SAVEPOINT}")
            self.open = True
            self.kept = False  # what it kept is committed: a rollback now goes back to here
            self.saved()
            dbapi.group = self

    def end_empty(self) -> None:
        """No request kept anything: end the transaction (it holds the write lock)."""
        assert self.dbapi is not None
        sqlite3.Connection.rollback(self.dbapi)
        self.open = False
        self.forget_counters()

    def fail(self, exc: BaseException) -> None:
        """The group's transaction is lost: roll it back and fail every request waiting."""
        waiting, self.waiting = self.waiting, []
        if self.dbapi is not None:
            self.dbapi.group = None
            try:
                sqlite3.Connection.rollback(self.dbapi)
            except sqlite3.Error:
                log.exception("rolling back a failed group")
        self.open = False
        self.active = None
        self.forget_counters()
        for future in waiting:
            if not future.done():
                future.set_exception(exc)

    def commit_before_other_writer(self, dbapi_connection: Any) -> None:
        """The pool hands out another connection in the group's thread: commit first, or that
        connection would wait for the group's write lock with the loop (and the commit) stuck."""
        if (
            self.open
            and dbapi_connection is not self.dbapi
            and threading.current_thread() is self.thread
        ):
            self.commit()

    def close(self) -> None:
        """A group whose loop is gone: nothing in it can be committed any more."""
        if self.open and self.dbapi is not None:
            self.dbapi.group = None
            with contextlib.suppress(sqlite3.Error):
                sqlite3.Connection.rollback(self.dbapi)
        self.open = False
        if self.raw is not None:
            if self.dbapi is not None and self.pooled_cache_size is not None:
                with contextlib.suppress(sqlite3.Error):  # back to the pool as it came
                    size = self.pooled_cache_size
                    self.dbapi.statement_cursor.execute(f"PRAGMA cache_size={size}")
            with contextlib.suppress(Exception):  # its pool may be gone with its engine
                self.raw.close()
            self.raw = None
            self.dbapi = None


def writer_cache(dbapi: StoreConnection) -> int | None:
    """The group's connection keeps SIM_SQLITE_CACHE_BYTES of pages (16 MiB; 0: SQLite's own
    2 MB). The memory map serves only pages already back in the store's file: those the group
    writes, and those it reads from the log until a checkpoint copies them back, stay in its
    own cache. 2 MB held 500 of the ~2,100 pages an update of 1,000 customers of 100,000 goes
    over, the rest read again with read(2): at 16 MiB the update ran 17% faster (1,245 -> 1,096
    us of CPU a request, docs/performance.md). Only this connection: the pooled ones that
    only read ran 5% slower with it (the inventory read on the large store, side by side).
    Returns the size it had, which the group restores when it hands the connection back."""
    size = get_settings().sqlite_cache_bytes
    if size <= 0:
        return None
    cursor = dbapi.statement_cursor
    before = cursor.execute("PRAGMA cache_size").fetchone()[0]
    cursor.execute(f"PRAGMA cache_size=-{max(1, size // 1024)}")
    return int(before)


# Per engine, dropped with it. A group belongs to the loop (and thread) that made it; a lease of
# another loop takes no group while that thread lives.
_groups: weakref.WeakKeyDictionary[Engine, Group] = weakref.WeakKeyDictionary()
_grouping: weakref.WeakSet[Engine] = weakref.WeakSet()  # the engines `enable` was called on


def enable(engine: Engine) -> None:
    """Group the commits of `engine`'s grouped leases (SQLite only)."""
    if engine.dialect.name != "sqlite" or engine in _grouping:
        return
    _grouping.add(engine)
    engine_ref = weakref.ref(engine)

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        group = _groups.get(engine_ref())  # type: ignore[arg-type]
        if group is not None:
            group.commit_before_other_writer(dbapi_connection)

    event.listen(engine, "checkout", on_checkout)


def group_for(engine: Engine) -> Group | None:
    """The group of `engine` for the running loop, made on first use; None when the store does
    not group (PostgreSQL, grouping off), outside a running loop, or in the thread of another
    loop's group while that loop lives."""
    if engine not in _grouping:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    group = _groups.get(engine)
    if group is not None:
        if group.loop is loop:
            return group
        elsewhere = group.thread is not threading.current_thread()
        if elsewhere and group.thread.is_alive() and not group.loop.is_closed():
            return None  # another loop's, still serving
        group.close()
    group = Group(engine, loop)
    _groups[engine] = group
    return group


def commit_open_group(engine: Engine) -> None:
    """Commit `engine`'s open group now, when called in its thread: before this thread writes
    on another connection, or waits for a thread that does."""
    group = _groups.get(engine)
    if group is not None:
        group.commit_before_other_writer(None)
