"""The store: one SQLAlchemy engine per app, SQLite (WAL) by default, PostgreSQL when asked.

Handlers are `async def` and run these short synchronous queries inline: on this stack that is
about three times faster than a `def` handler's threadpool hop (docs/architecture.md, "Why
handlers are `async def` and query inline").
"""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import DateTime, String, Table, and_, bindparam, event, literal_column, text
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

from simulator.core.checkpoint import ANALYSIS_LIMIT, checkpointer, safety_pages
from simulator.core.formats import load_json, store_json
from simulator.core.groupcommit import StoreConnection


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, always returns timezone-aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Table of a SQLModel class (set when the class is made, so invisible to mypy)."""
    return model.__table__  # type: ignore[attr-defined]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, page_size: int | None = None) -> Engine:
    """Create the engine; for an SQLite file, create its folder and switch on WAL, and with
    `page_size` make a new file of pages of that size (an existing file keeps its own).
    `postgres://` and `postgresql://` URLs mean the psycopg driver (config)."""
    from simulator.config import get_settings, normalized_database_url

    url = normalized_database_url(url)
    if is_sqlite(url):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Handlers run their queries on the event loop: a checkout that had to wait for a
        # connection would stall every request, so the pools are sized above the concurrency
        # this server is expected to see (SQLite connections are cheap).
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "factory": StoreConnection},
            pool_size=32,
            max_overflow=64,
            pool_timeout=10,
            json_serializer=store_json,
            json_deserializer=load_json,
        )
        mmap_bytes = get_settings().sqlite_mmap_bytes
        pragmas = functools.partial(_sqlite_pragmas, page_size=page_size, mmap_bytes=mmap_bytes)
        event.listen(engine, "connect", pragmas)
        if path and path != ":memory:":
            checkpointer.watch(path, engine)
        return engine
    # Two replicas x (10 + 30) stay under PostgreSQL's default 100 connections.
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=30,
        pool_timeout=10,
        pool_pre_ping=True,
        json_serializer=store_json,
        json_deserializer=load_json,
    )
    event.listen(engine, "connect", _postgres_settings)
    dialect: Any = engine.dialect
    dialect.do_ping = _checking_ping(dialect.do_ping)
    return engine


_checkout = threading.local()
BEGIN = "begin"  # the liveness check is the transaction's BEGIN
UNCHECKED = "unchecked"  # no liveness check: the caller retries on another connection


@contextmanager
def checking_out(how: str) -> Iterator[None]:
    """PostgreSQL: how the pool checks the liveness of a connection it checks out in this
    block (this thread) instead of its ping (`pool_pre_ping`, one round trip):

    - BEGIN: a BEGIN, which opens the transaction the caller's statements then run in, one
      round trip for both (psycopg reads the transaction status from libpq, so it sends no
      BEGIN of its own);
    - UNCHECKED: not at all; the caller's first statement finds a dead connection and runs
      again on another (core/fastsql: a lease that only reads, in autocommit).

    A connection just made is never checked (as with the ping)."""
    _checkout.how = how
    try:
        yield
    finally:
        _checkout.how = None


def _checking_ping(ping: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """The dialect's ping, or what `checking_out` asked for. A connection whose BEGIN fails
    is closed: the pool then drops it and checks out another, as after a failed ping."""

    def check(dbapi_connection: Any) -> bool:
        how = getattr(_checkout, "how", None)
        if how == UNCHECKED:
            return True
        if how != BEGIN or dbapi_connection.autocommit:
            return ping(dbapi_connection)
        from psycopg import OperationalError, pq

        pgconn = dbapi_connection.pgconn
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return ping(dbapi_connection)
        try:
            result = pgconn.exec_(b"BEGIN")
            if result.status != pq.ExecStatus.COMMAND_OK:
                message = pgconn.error_message.decode(errors="replace")
                raise OperationalError(f"BEGIN failed: {message}")
        except OperationalError:
            dbapi_connection.close()  # `closed`: the dialect calls it a disconnect
            raise
        return True

    return check


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    """A commit does not wait for its WAL flush (`synchronous_commit = off`): the durability
    SQLite's `synchronous=NORMAL` gives (a crash of the server may lose the last commits,
    never corrupts). Handlers query on the event loop, so each flush held every request of
    the process: 5 ms a commit on the shared machine's disk, at most ~200 writes a second."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    dbapi_connection.commit()


def _sqlite_pragmas(
    dbapi_connection: Any, _record: Any, page_size: int | None = None, mmap_bytes: int = 0
) -> None:
    cursor = dbapi_connection.cursor()
    if page_size is not None:
        # Only a file not yet written takes it: switching on WAL (next) is its first write.
        cursor.execute(f"PRAGMA page_size={page_size}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Savepoints keep the pages they change in a statement journal: in memory, not in a temp
    # file written page by page (every grouped request runs inside savepoints, core/groupcommit).
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Reads through a memory map of the file (SIM_SQLITE_MMAP_BYTES): a page the OS has cached
    # is read in place, shared by every connection, instead of copied by a read(2) into each
    # connection's own 2 MB cache. On 100,000 customers a lookup over 1,000 of them ran at
    # 0.84-0.96 of the small store's speed without it, 0.99-1.06 with it (docs/performance.md).
    cursor.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
    # Checkpoints run in core.checkpoint's thread; a request's commit only if that falls behind.
    actual_page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
    cursor.execute(f"PRAGMA wal_autocheckpoint={safety_pages(actual_page_size)}")
    cursor.close()


# --- planner statistics --------------------------------------------------------------------
#
# Every hot statement has an index that fits it without statistics (tests/performance asserts
# the plans); statistics keep the planner right where two indexes could serve. ANALYZE reads at
# most ANALYSIS_LIMIT rows an index on SQLite (about 20 ms for 200,000 rows on the 2-core
# machine), so refreshing them is cheap enough to do at start and after a large load.

LARGE_LOAD_ROWS = 10_000  # a fixture load at least this large is followed by ANALYZE
LARGE_LOAD_BYTES = 1_000_000  # or one whose document is this large


def analyze(engine: Engine) -> None:
    """Gather the planner's statistics of every table (after a large load)."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def optimize(engine: Engine) -> None:
    """At start, SQLite: the statistics a large load gathered brought up to date for the tables
    that changed much since (`PRAGMA optimize`). A store never analyzed keeps none: statistics
    of a near-empty store would tell the planner a scan is cheapest, and stay wrong as it fills
    (its plans rest on the indexes alone). PostgreSQL: autovacuum keeps its own."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        analyzed = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first()
        if analyzed:
            connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            connection.exec_driver_sql("PRAGMA optimize=0x10002")
            connection.commit()


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, closed after the response."""
    with new_session(request.app.state.engine) as session:
        yield session


def ping(engine: Engine) -> bool:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return True


def tenant_tables() -> list:
    """Every table holding per-tenant rows, children first (safe order for deletes)."""
    import simulator.models_index  # noqa: F401

    tables = [t for t in SQLModel.metadata.sorted_tables if "tenant_id" in t.columns]
    return list(reversed(tables))


def same_tenant(left: Any, right: Any) -> Any:
    """`left == right` between two per-tenant tables, within one tenant: every key is per
    tenant, so a join (or a correlated subquery) matches `tenant_id` too, first (the leading
    column of every per-tenant index)."""
    return and_(left.table.c.tenant_id == right.table.c.tenant_id, left == right)


def like_escaped(text: str) -> str:
    """`text` for LIKE ... ESCAPE '\\': its own `\\`, `%` and `_` match themselves."""
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def contains(column: Any, text: str) -> Any:
    """The condition that `column` holds `text` anywhere (LIKE, the text taken literally)."""
    return column.like(f"%{like_escaped(text)}%", escape="\\")


def contains_bound(column: Any, name: str) -> Any:
    """`contains` for a statement built once: the text is bound at each execution as `name`,
    its value `like_escaped(text)`, and the pattern is built in SQL ('%' || :name || '%').
    Not a bare parameter: SQLite re-prepares a statement whose LIKE pattern is one each time
    it is bound (its LIKE optimisation depends on the value), which cost several times the
    search itself (90 against 20 µs for customer_find over two customers)."""
    anywhere = literal_column("'%'", String())
    pattern = anywhere + bindparam(name, type_=String()) + anywhere
    return column.like(pattern, escape="\\")
