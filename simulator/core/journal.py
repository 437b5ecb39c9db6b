"""The request journal: every request on an API path, bounded per tenant.

Recording a request costs the hot path a list append (with the writer process, an orjson
encoding too). A writer thread stores the entries in bulk a few times a second (and before
every read), or hands them to the writer process, so the event loop never waits for the
journal's writes:

- on an SQLite store the journal has a file of its own beside it (`<store>.requests.db`), so
  its writes never wait for the store's write lock nor hold it; each batch is one executemany
  of a prepared INSERT, and the thread runs below the event loop's priority (core/background);
  the file is made of 32 KiB pages (JOURNAL_PAGE_SIZE), where an entry and its bodies fit;
  with `writer_process` (`simulator serve`'s default) the entries are encoded as they are
  recorded and the thread only passes them to a process of their own that stores them
  (core/journal_process), so storing them never holds this process's interpreter lock;
- on PostgreSQL the entries stay in the store's own table, written the usual way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import String, delete, func, insert, or_, select
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel, col

from simulator.core import background, fastsql, groupcommit, journal_process
from simulator.core.clock import format_instant
from simulator.core.db import contains, like_escaped, make_engine, new_session, table_of
from simulator.core.formats import clean_text
from simulator.core.journal_process import WriterProcess, decoded, encoded
from simulator.core.metrics import Metrics
from simulator.core.models import JournalEntry, Tenant
from simulator.core.operations import UNKNOWN_CALL, UNMATCHED
from simulator.core.store import session_unit

log = logging.getLogger("simulator.journal")
access_log = logging.getLogger("simulator.access")

# Request headers worth keeping; credentials are never journaled.
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "idempotency-key",
    "x-simulator-fault",
)

# The operation of a request no declared operation served: no route, a method the route does
# not answer, a call its API does not have (core/operations).
UNMATCHED_OPERATIONS = (UNMATCHED, UNKNOWN_CALL)

# Batches are handed to the writer at this size, or every `journal_flush_seconds`.
BATCH = 500

# One executemany on the DBAPI cursor a flush (an ORM bulk insert costs several times more).
INSERT_ENTRIES = fastsql.prepared(insert(table_of(JournalEntry)))


# What the store would refuse, made storable: PostgreSQL text holds no NUL, UTF-8 no lone
# surrogate, and a VARCHAR column no more than its length (SQLite would take all three).
_TEXT_LIMITS = {
    column.name: getattr(column.type, "length", None)
    for column in table_of(JournalEntry).c
    # AutoString (SQLModel's str) decorates a String; Text is one, with no length.
    if isinstance(getattr(column.type, "impl_instance", column.type), String)
}


def storable_text(value: str, limit: int | None) -> str:
    """`value` as `clean_text`, cut to `limit` characters."""
    value = clean_text(value)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def headers_text(headers: Any) -> str:
    """Response headers as sent (a list of bytes pairs) as the JSON object the journal keeps;
    a header sent twice keeps its values joined by ", "."""
    if isinstance(headers, str):
        return headers
    kept: dict[str, str] = {}
    for name, value in headers or ():
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        kept[key] = f"{kept[key]}, {text}" if key in kept else text
    return orjson.dumps(kept).decode()


def storable(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with every text field as `storable_text` (in place; the writer's work, not
    the request's)."""
    entry["response_headers"] = headers_text(entry.get("response_headers"))
    for name, limit in _TEXT_LIMITS.items():
        value = entry.get(name)
        if isinstance(value, str):
            entry[name] = storable_text(value, limit)
    return entry


# --- where the entries live -------------------------------------------------------------------

_stores: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def journal_path(engine: Engine) -> Path | None:
    """The journal's own file beside an SQLite store's file; None for any other store."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path.with_name(f"{path.stem}.requests{path.suffix}")


# The journal's own file is made of pages of this size, not SQLite's default 4 KiB. An entry
# with bodies near journal_body_bytes (4 KiB each) overflows a 4 KiB page into a chain of
# them, and the trim's deletes walk those chains: written and trimmed at its bound (10,000
# entries), an entry cost the writer 45 µs of CPU with 4 KiB pages against 22 µs with 32 KiB
# ones (2 KiB bodies: 42 against 15 µs). The writer's time is taken from the same two cores
# the event loop serves on: on a read answering 4 KiB it was a third of the process's CPU.
JOURNAL_PAGE_SIZE = 32_768


def store_of(engine: Engine) -> Engine:
    """The engine holding the journal of the store `engine`: the journal's own SQLite file
    (created with its table on first use), or `engine` itself."""
    with _stores_lock:
        found = _stores.get(engine)
        if found is not None:
            return found
        path = journal_path(engine)
        store = engine if path is None else make_engine(f"sqlite:///{path}", JOURNAL_PAGE_SIZE)
        if store is not engine:
            _create_table(store)
        _stores[engine] = store
        return store


def _create_table(store: Engine) -> None:
    for attempt in range(3):
        try:
            SQLModel.metadata.create_all(store, tables=[table_of(JournalEntry)])
            _add_missing_columns(store)
            return
        except OperationalError:  # another process created it (or the column) meanwhile
            if attempt == 2:
                raise


# Columns added to the journal after its file first existed (revision 0006 in the store's
# own migrations): a journal file of its own is not migrated by Alembic, so its table gets
# them here, with the migration's default.
ADDED_COLUMNS = {"response_headers": "TEXT NOT NULL DEFAULT '{}'"}


def _add_missing_columns(store: Engine) -> None:
    with store.begin() as connection:
        present = {row[1] for row in connection.exec_driver_sql("PRAGMA table_info(journal_entry)")}
        for name, declaration in ADDED_COLUMNS.items():
            if name not in present:
                connection.exec_driver_sql(
                    f"ALTER TABLE journal_entry ADD COLUMN {name} {declaration}"
                )


def close_store(engine: Engine) -> None:
    """Let go of the journal's own file of `engine` (its connections closed)."""
    with _stores_lock:
        store = _stores.pop(engine, None)
    if store is not None and store is not engine:
        store.dispose()


# --- the journal ------------------------------------------------------------------------------


class Journal:
    """Also the one place every finished API request passes: metrics and access log too."""

    def __init__(
        self,
        engine: Engine,
        max_entries: int,
        enabled: bool = True,
        metrics: Metrics | None = None,
        access_log: bool = False,
        writer_process: bool = False,
    ) -> None:
        self.engine = engine
        self.max_entries = max_entries
        self.enabled = enabled
        self.metrics = metrics
        self.access_log = access_log
        # Entries as recorded, or encoded for the writer process (journal_process.encoded).
        self.pending: list[dict[str, Any] | bytes] = []
        # Store through a process of its own where the journal has a file of its own: started
        # by the writer thread with the first entries (`_process_due` until then).
        self._process_due = writer_process and enabled
        self._process: WriterProcess | None = None
        self._task: asyncio.Task | None = None
        # The writer thread and what it is handed: ("write", entries), ("settle", tenants),
        # ("done", event), ("stop", None). Without it, whoever flushes writes.
        self._writer: threading.Thread | None = None
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        # Entries written per tenant since its journal was last trimmed (the writer's).
        self.untrimmed: dict[str | None, int] = {}

    @property
    def store(self) -> Engine:
        return store_of(self.engine)

    def record(self, entry: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.observe(
                entry["api"],
                entry["operation"],
                entry["status"],
                entry["duration_ms"] / 1000,
                entry.get("fault"),
            )
        if self.access_log:
            access_log.info(
                "%s %s %s",
                entry["method"],
                entry["path"],
                entry["status"],
                extra={
                    "request_id": entry.get("request_id"),
                    "tenant": entry["tenant_id"],
                    "api": entry["api"],
                    "operation": entry["operation"],
                    "method": entry["method"],
                    "path": entry["path"],
                    "status": entry["status"],
                    "duration_ms": round(entry["duration_ms"], 3),
                },
            )
        if not self.enabled:
            return
        entry.pop("request_id", None)
        if self._process is not None:
            frame = self._encoded(entry)
            if frame is None:
                return
            self.pending.append(frame)
        else:
            self.pending.append(entry)
        if len(self.pending) >= BATCH:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Write what is buffered: hand it to the writer, and with `wait` return once it (and
        everything handed over before) is stored."""
        batch, self.pending = self.pending, []
        if self._writer is None:
            if batch:
                self.store_batch(as_entries(batch))
            return
        if batch:
            self._queue.put(("write", batch))
        if wait:
            self._wait()

    def settle(self, tenant_ids: set[str | None] | None = None) -> None:
        """Before a read: everything buffered written, and the tenants read (default: those
        this process wrote for) trimmed to their bound, whichever process wrote the entries."""
        self.flush(wait=False)
        if self._writer is None:
            self.trim_to_bounds(tenant_ids)
            return
        self._queue.put(("settle", tenant_ids))
        self._wait()

    def _wait(self) -> None:
        # The writer may need a write lock the caller's open group holds (a store without a
        # journal file of its own): commit it before blocking on the writer.
        groupcommit.commit_open_group(self.engine)
        done = threading.Event()
        self._queue.put(("done", done))
        done.wait()

    # --- writing (the writer thread, or the flushing caller) ----------------------------------

    def store_batch(self, batch: list[dict[str, Any]]) -> None:
        """Store a batch (its text made storable first). A tenant's oldest entries beyond its
        bound are dropped once this process has added a tenth of the bound since it last
        trimmed them (a trim costs a walk over the bound's worth of index), and always before
        a read (`settle`).

        An entry the store still refuses costs no other entry: the batch is stored again in
        halves, down to that entry, which is dropped and counted in /metrics. A store that
        does not answer (OperationalError) costs the batch, counted the same way."""
        for entry in batch:
            storable(entry)
            tenant_id = entry["tenant_id"]
            self.untrimmed[tenant_id] = self.untrimmed.get(tenant_id, 0) + 1
        try:
            with session_unit(self.store) as session:
                insert_entries(session, batch)
                self._trim_due(session)
            return
        except OperationalError:  # the journal must never take the API down
            log.exception("could not write %d journal entries", len(batch))
            self._dropped(len(batch))
            return
        except Exception as exc:
            log.warning("the store refused a batch of %d journal entries: %s", len(batch), exc)
        self._dropped(self._insert_apart(batch))
        try:
            with session_unit(self.store) as session:
                self._trim_due(session)
        except Exception:  # trimmed at the next write or read
            log.exception("could not trim the journal")

    def _insert_apart(self, batch: list[dict[str, Any]]) -> int:
        """Store `batch` in halves, each in a transaction of its own, until what the store
        refuses is one entry; how many were dropped."""
        try:
            with session_unit(self.store) as session:
                insert_entries(session, batch)
            return 0
        except Exception as exc:
            if len(batch) == 1:
                reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                entry = batch[0]
                log.warning(
                    "dropped a journal entry the store refused (%s %s %s): %s",
                    entry.get("api"),
                    entry.get("method"),
                    str(entry.get("path"))[:200],
                    reason,
                )
                return 1
        middle = len(batch) // 2
        return self._insert_apart(batch[:middle]) + self._insert_apart(batch[middle:])

    def _dropped(self, count: int) -> None:
        if count and self.metrics is not None:
            self.metrics.journal_dropped += count

    def _trim_due(self, session: Any) -> None:
        """Trim the tenants this process has added a tenth of their bound to since their last
        trim."""
        limits = self._limits(set(self.untrimmed))
        for tenant_id, written in list(self.untrimmed.items()):
            limit = limits[tenant_id]
            if written >= max(1, limit // 10):
                self._trim(session, tenant_id, limit)
                del self.untrimmed[tenant_id]

    def trim_to_bounds(self, tenant_ids: set[str | None] | None) -> None:
        """Trim these tenants (None: those written since their last trim) to their bound (the
        writer's side of `settle`)."""
        tenant_ids = set(self.untrimmed) if tenant_ids is None else tenant_ids
        if not tenant_ids:
            return
        try:
            with session_unit(self.store) as session:
                for tenant_id, limit in self._limits(tenant_ids).items():
                    self._trim(session, tenant_id, limit)
            for tenant_id in tenant_ids:
                self.untrimmed.pop(tenant_id, None)
        except Exception:  # a read shows the entries as they are
            log.exception("could not trim the journal")

    def _limits(self, tenant_ids: set[str | None]) -> dict[str | None, int]:
        """Each tenant's bound: its own journal quota where an operator set one, else the
        journal's (entries of no tenant have the journal's)."""
        ids = [t for t in tenant_ids if t is not None]
        quotas: dict[str | None, int | None] = {}
        if ids:
            with new_session(self.engine) as session:
                rows = session.execute(
                    select(col(Tenant.id), col(Tenant.quota_journal_entries)).where(
                        col(Tenant.id).in_(ids)
                    )
                )
                quotas = dict(rows.all())
        return {t: quotas.get(t) or self.max_entries for t in tenant_ids}

    def _trim(self, session: Any, tenant_id: str | None, max_entries: int) -> None:
        same_tenant = (
            col(JournalEntry.tenant_id).is_(None)
            if tenant_id is None
            else col(JournalEntry.tenant_id) == tenant_id
        )
        cutoff = session.execute(
            select(col(JournalEntry.id))
            .where(same_tenant)
            .order_by(col(JournalEntry.id).desc())
            .offset(max_entries)
            .limit(1)
        ).scalar_one_or_none()
        if cutoff is not None:
            session.execute(delete(JournalEntry).where(same_tenant, col(JournalEntry.id) <= cutoff))

    def _run(self) -> None:
        """The writer: whatever is waiting, taken together; settles after the writes handed
        over before them; a waiter is woken once everything before it is done. It runs below
        the event loop's priority (core/background)."""
        background.lower_priority()
        while True:
            items = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    items.append(self._queue.get_nowait())
            batch = [entry for kind, arg in items if kind == "write" for entry in arg]
            if self._process_due and batch:
                # Started with the first entries rather than with the server: its imports
                # would share the cores with the server's own start (0.2 s later healthy).
                self._process_due = False
                self._process = self._start_process()
            if not self._hand_over(batch, items):
                if batch:
                    self.store_batch(as_entries(batch))
                for kind, arg in items:
                    if kind == "settle":
                        self.trim_to_bounds(arg)
                for kind, arg in items:
                    if kind == "done":
                        arg.set()
            if any(kind == "stop" for kind, _ in items):
                return

    def _hand_over(self, batch: list[dict[str, Any] | bytes], items: list[tuple[str, Any]]) -> bool:
        """Pass the batch, settles and waiters to the writer process, in that order; False when
        there is none (or it is gone: this thread stores them, and those after)."""
        process = self._process
        if process is None or not process.alive:
            return False
        try:
            if batch:
                process.send_batch(self._frames(batch))
            for kind, arg in items:
                if kind == "settle":
                    process.send_settle(arg)
            for kind, arg in items:
                if kind == "done":
                    process.send_done(arg)
            return True
        except OSError:
            log.exception("the journal's writer process is gone: this process writes the journal")
            process.alive = False
            return False

    # --- life ---------------------------------------------------------------------------------

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flush(wait=False)

    def start(self, interval: float) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._run, name="journal-writer", daemon=True)
            self._writer.start()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_every(interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush(wait=False)
        writer, self._writer = self._writer, None
        if writer is not None:
            groupcommit.commit_open_group(self.engine)
            self._queue.put(("stop", None))
            writer.join()
        process, self._process = self._process, None
        if process is not None:
            process.stop()
        self.flush()
        close_store(self.engine)

    def _encoded(self, entry: dict[str, Any]) -> bytes | None:
        """The entry as the writer process reads it; None (counted dropped) for one no store
        could take."""
        entry["response_headers"] = headers_text(entry.get("response_headers"))
        frame = encoded(entry, storable)
        if frame is None:
            log.warning("dropped a journal entry that cannot be stored (%s)", entry.get("path"))
            self._dropped(1)
        return frame

    def _frames(self, batch: list[dict[str, Any] | bytes]) -> list[bytes]:
        """The batch encoded for the writer process (entries recorded before it started are
        encoded here)."""
        frames = (item if isinstance(item, bytes) else self._encoded(item) for item in batch)
        return [frame for frame in frames if frame is not None]

    def _start_process(self) -> WriterProcess | None:
        """The writer process for a journal with a file of its own; None for any other (or
        when it cannot start: the thread stores the entries)."""
        if journal_path(self.engine) is None or not journal_process.AVAILABLE:
            return None
        try:
            url = self.engine.url.render_as_string(hide_password=False)
            return WriterProcess(url, self.max_entries, self._dropped)
        except OSError:
            log.exception("could not start the journal's writer process: a thread writes it")
            return None


def as_entries(batch: list[dict[str, Any] | bytes]) -> list[dict[str, Any]]:
    """The batch as entries, those encoded for the writer process decoded again."""
    return [e for item in batch for e in (decoded(item) if isinstance(item, bytes) else [item])]


def insert_entries(session: Any, batch: list[dict[str, Any]]) -> None:
    """One executemany on the DBAPI cursor. (On SQLite it costs half the CPU of one INSERT
    reading its rows from a JSON parameter, tried before: 13 against 28 µs an entry.)"""
    fastsql.execute(session, INSERT_ENTRIES, batch)


def entry_view(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "tenant": entry.tenant_id,
        "api": entry.api,
        "operation": entry.operation,
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "status": entry.status,
        "durationMs": round(entry.duration_ms, 3),
        "fault": entry.fault,
        "requestHeaders": json.loads(entry.request_headers or "{}"),
        "requestBody": entry.request_body,
        "responseBody": entry.response_body,
        "responseHeaders": json.loads(entry.response_headers or "{}"),
        "time": format_instant(entry.created_at),
    }


@dataclass
class JournalFilter:
    """Entries the store selects, newest first. `path` is a substring in which `*` stands for
    anything (GET); `path_exact` the whole path; `path_glob` a glob over the whole path (`*`
    crosses `/`); `operations` the operation names to keep (resolved from a name or alias);
    `unmatched` keeps only requests no declared operation served."""

    tenant: str | None = None
    api: str | None = None
    operations: tuple[str, ...] | None = None
    method: str | None = None
    path: str | None = None
    path_exact: str | None = None
    path_glob: str | None = None
    query: str | None = None
    status: int | None = None
    status_class: int | None = None
    fault: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    after: int | None = None
    text: str | None = None
    unmatched: bool = False
    limit: int | None = 100


def statement_of(where: JournalFilter) -> Any:
    """The SELECT of the entries `where` keeps, newest first (no limit)."""
    statement = select(JournalEntry)
    conditions = []
    if where.tenant is not None:
        conditions.append(col(JournalEntry.tenant_id) == where.tenant)
    if where.api is not None:
        conditions.append(col(JournalEntry.api) == where.api)
    if where.operations is not None:
        conditions.append(col(JournalEntry.operation).in_(where.operations))
    if where.unmatched:
        conditions.append(col(JournalEntry.operation).in_(UNMATCHED_OPERATIONS))
    if where.method is not None:
        conditions.append(col(JournalEntry.method) == where.method.upper())
    if where.path is not None:
        pattern = like_escaped(where.path).replace("*", "%")
        conditions.append(col(JournalEntry.path).like(f"%{pattern}%", escape="\\"))
    if where.path_exact is not None:
        conditions.append(col(JournalEntry.path) == where.path_exact)
    if where.path_glob is not None:
        pattern = like_escaped(where.path_glob).replace("*", "%").replace("?", "_")
        conditions.append(col(JournalEntry.path).like(pattern, escape="\\"))
    if where.query is not None:
        conditions.append(contains(col(JournalEntry.query), where.query))
    if where.status is not None:
        conditions.append(col(JournalEntry.status) == where.status)
    if where.status_class is not None:
        low = where.status_class * 100
        conditions.append(col(JournalEntry.status).between(low, low + 99))
    if where.fault is not None:
        label, escaped = col(JournalEntry.fault), like_escaped(where.fault)
        conditions.append(
            or_(
                label == where.fault,
                label.like(f"{escaped},%", escape="\\"),
                label.like(f"%,{escaped}", escape="\\"),
                label.like(f"%,{escaped},%", escape="\\"),
            )
        )
    if where.since is not None:
        conditions.append(col(JournalEntry.created_at) >= where.since)
    if where.until is not None:
        conditions.append(col(JournalEntry.created_at) <= where.until)
    if where.before is not None:
        conditions.append(col(JournalEntry.id) < where.before)
    if where.after is not None:
        conditions.append(col(JournalEntry.id) > where.after)
    if where.text is not None:
        needle = f"%{like_escaped(where.text)}%"
        conditions.append(
            or_(
                *(
                    column.ilike(needle, escape="\\")
                    for column in (
                        col(JournalEntry.path),
                        col(JournalEntry.query),
                        col(JournalEntry.request_body),
                        col(JournalEntry.response_body),
                    )
                )
            )
        )
    return statement.where(*conditions).order_by(col(JournalEntry.id).desc())


def search(engine: Engine, where: JournalFilter) -> list[dict[str, Any]]:
    """The entries `where` keeps, newest first, at most `where.limit`."""
    statement = statement_of(where)
    if where.limit is not None:
        statement = statement.limit(where.limit)
    with new_session(store_of(engine)) as session:
        return [entry_view(e) for e in session.execute(statement).scalars()]


def count(engine: Engine, where: JournalFilter) -> int:
    statement = select(func.count()).select_from(statement_of(where).order_by(None).subquery())
    with new_session(store_of(engine)) as session:
        return session.execute(statement).scalar_one()


def scan(engine: Engine, where: JournalFilter, batch: int = 500) -> Iterator[dict[str, Any]]:
    """Every entry `where` keeps, newest first, read a batch at a time."""
    before = where.before
    while True:
        page = replace(where, before=before, limit=batch)
        entries = search(engine, page)
        yield from entries
        if len(entries) < batch:
            return
        before = entries[-1]["id"]


def clear(engine: Engine, tenant: str | None = None) -> int:
    statement = delete(JournalEntry)
    if tenant is not None:
        statement = statement.where(col(JournalEntry.tenant_id) == tenant)
    with session_unit(store_of(engine)) as session:
        result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return result.rowcount
