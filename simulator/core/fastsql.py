"""Core statements run on the DBAPI cursor: SQLAlchemy compiles, the hot paths execute.

SQLAlchemy's execute costs about 40 µs a statement on this stack (execution context, result
metadata, row processing), several times what SQLite itself needs for an indexed read or a
one-row write. The hot paths build their statements once at import (`prepared(...)`); `execute` compiles each
once per dialect (and per set of parameter names) and keeps what SQLAlchemy would
work out on every call: the SQL text, the order of the parameters, each bind's and each result
column's type processor (so UTCDateTime, JSON and booleans come back exactly as SQLAlchemy
gives them, on SQLite and PostgreSQL alike), the literals written into the statement and the
Python-side column defaults of an INSERT. What it does not know (a statement with a
`literal_execute` bind, a non-scalar default) runs through SQLAlchemy as before.

It runs in the caller's transaction: on the DBAPI connection of the given ORM Session or Core
Connection, so what it writes is committed or rolled back with the rest.
"""

from __future__ import annotations

import itertools
import operator
import re
import threading
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlmodel import Session

from simulator.core import groupcommit
from simulator.core.db import BEGIN, UNCHECKED, UTCDateTime, checking_out
from simulator.core.store import Store, Transaction, debug_checks

T = TypeVar("T")

POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


class NotFast(Exception):
    """The statement needs SQLAlchemy's own execution."""


class Result:
    """The part of SQLAlchemy's Result the hot paths use: rows, first, scalar, rowcount."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise ValueError("more than one row")
        return self.scalar()

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]

    def mappings(self) -> Result:
        """The rows as dicts (column name -> value)."""
        return Result([row._asdict() for row in self._rows], self.rowcount)


def sqlite_utc_text(value: datetime | None) -> str | None:
    """UTCDateTime's SQLite text, as SQLAlchemy writes it ("YYYY-MM-DD HH:MM:SS.ffffff",
    naive UTC), without its per-call formatting dictionary."""
    if value is None:
        return None
    if value.tzinfo is UTC:
        value = value.replace(tzinfo=None)
    elif value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def sqlite_utc_value(value: str | None) -> datetime | None:
    """UTCDateTime read back from SQLite text: aware UTC, as SQLAlchemy gives it.

    The offset is parsed with the text rather than set afterwards: `datetime.replace` costs
    four times the parse (0.6 against 0.15 µs), on every instant of every row read. Text with
    an offset of its own (the store never writes one) is that instant, in UTC (as
    UTCDateTime reads it)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value + "+00:00")
    except ValueError:  # an offset of its own
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:
        return parsed
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_text
    return type_.dialect_impl(dialect).bind_processor(dialect)


def result_processor(type_: Any, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_value
    return type_.dialect_impl(dialect).result_processor(dialect, coltype)


class Plan:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> None:
        # The parameters of an INSERT or UPDATE name its columns (as SQLAlchemy's execution
        # passes them); an INSERT .. SELECT takes its values from its SELECT, and naming them
        # would add SET clauses to an UPDATE of its WITH (core/ids.NumberedInsert).
        is_dml = isinstance(statement, UpdateBase) and getattr(statement, "select", None) is None
        # SQLCompiler's positiontup and binds: what SQLAlchemy's own execution reads too.
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=list(keys) if is_dml else None
        )
        self.sql: str = compiled.string
        self.positional = dialect.paramstyle in ("qmark", "numeric", "format")
        if dialect.paramstyle not in ("qmark", "pyformat", "named"):
            raise NotFast(f"paramstyle {dialect.paramstyle}")
        order = list(compiled.positiontup or ()) if self.positional else list(compiled.binds)
        self.order: list[str] = order
        self.expanding: set[str] = set()
        self.literals: dict[str, Any] = {}
        self.processors: dict[str, Callable[[Any], Any]] = {}
        defaults = _insert_defaults(statement) if isinstance(statement, Insert) else {}
        self.defaults: dict[str, Callable[[], Any]] = {}
        for name, bind in compiled.binds.items():
            if bind.literal_execute:
                raise NotFast(f"literal_execute bind {name}")
            if bind.expanding:
                self.expanding.add(name)
            processor = bind_processor(bind.type, dialect)
            if processor is not None:
                self.processors[name] = processor
            if name in keys:
                continue
            if name in defaults:
                self.defaults[name] = defaults[name]
            elif bind.callable is not None or bind.value is not None or not bind.required:
                self.literals[name] = bind.effective_value
        columns = list(getattr(statement, "exported_columns", ()) or ())
        # A DML statement's exported columns are its RETURNING ones.
        self.returns_rows = bool(columns)
        self.row_type = None
        self.columns = columns
        self.dialect = dialect
        # Built at the first execution: PostgreSQL's processors depend on the cursor's types.
        # (column index, processor) of the columns that have one.
        self.result_processors: list[tuple[int, Callable[[Any], Any]]] | None = None
        if self.returns_rows:
            names = [_column_name(c, i) for i, c in enumerate(columns)]
            self.row_type = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        self.expanded_sql: dict[tuple[int, ...], tuple[str, list[str]]] = {}
        # Without expanding binds (the common case) each parameter's source and processor are
        # fixed by the plan: (name, processor, kind, extra) with kind 0 = the caller's value,
        # 1 = a literal (already processed), 2 = a column default's maker.
        self.slots: list[tuple[str, Callable[[Any], Any] | None, int, Any]] | None = None
        # When every parameter is the caller's (the usual case), one C call takes them all in
        # order and only the few with a processor are touched afterwards.
        self.take: Callable[[dict[str, Any]], Any] | None = None
        self.processed: list[tuple[int, Callable[[Any], Any]]] = []
        if not self.expanding:
            self.slots = [self.slot(name, set(keys)) for name in order]
            if self.slots and all(kind == 0 for _n, _p, kind, _e in self.slots):
                names = [name for name, _p, _k, _e in self.slots]
                getter = operator.itemgetter(*names)
                self.take = getter if len(names) > 1 else (lambda params: (getter(params),))
                self.processed = [
                    (index, processor)
                    for index, (_n, processor, _k, _e) in enumerate(self.slots)
                    if processor is not None
                ]

    def slot(self, name: str, keys: set[str]) -> tuple[str, Callable[[Any], Any] | None, int, Any]:
        processor = self.processors.get(name)
        if name in keys:
            return name, processor, 0, None
        if name in self.defaults:
            return name, processor, 2, self.defaults[name]
        if name in self.literals:
            value = self.literals[name]
            return name, None, 1, value if processor is None else processor(value)
        return name, processor, 0, None  # required and not given: the caller's KeyError

    def slot_values(self, params: dict[str, Any]) -> list[Any]:
        """The parameters in statement order (this runs for every statement)."""
        if self.take is not None:
            values = list(self.take(params))
            for index, processor in self.processed:
                values[index] = processor(values[index])
            return values
        out: list[Any] = []
        append = out.append
        for _name, process, kind, extra in self.slots or ():
            if kind == 1:
                append(extra)
                continue
            value = params[_name] if kind == 0 else extra()
            append(value if process is None else process(value))
        return out

    def values(self, params: dict[str, Any]) -> dict[str, Any]:
        values = dict(self.literals)
        for name, make in self.defaults.items():
            values[name] = make()
        values.update(params)
        for name, processor in self.processors.items():
            if name in values:
                value = values[name]
                if name in self.expanding:
                    values[name] = [processor(v) for v in value]
                else:
                    values[name] = processor(value)
        return values

    def empty_list_in(self, params: dict[str, Any]) -> bool:
        """An expanding bind given no values: SQLAlchemy renders that case its own way."""
        return any(not params.get(name) for name in self.expanding)

    def bound(self, params: dict[str, Any]) -> tuple[str, Any]:
        """(SQL, DBAPI parameters) for one execution."""
        if self.slots is not None:
            values = self.slot_values(params)
            if self.positional:
                return self.sql, values  # the DBAPI takes any sequence
            return self.sql, dict(zip(self.order, values, strict=True))
        named = self.values(params)
        sql, order = self.sql, self.order
        if self.expanding:
            sql, order = self.expand(named)
        if self.positional:
            return sql, tuple(_flatten(named, order, self.expanding))
        if self.expanding:
            flat: dict[str, Any] = {}
            for name in order:
                if name in self.expanding:
                    for i, v in enumerate(named[name]):
                        flat[f"{name}_{i + 1}"] = v
                else:
                    flat[name] = named[name]
            return sql, flat
        return sql, named

    def expand(self, values: dict[str, Any]) -> tuple[str, list[str]]:
        sizes = tuple(len(values[name]) for name in sorted(self.expanding))
        cached = self.expanded_sql.get(sizes)
        if cached is not None:
            return cached

        def render(found: re.Match[str]) -> str:
            name = found.group(1)
            count = len(values[name])
            if self.positional:
                return ", ".join(["?"] * count)
            return ", ".join(f"%({name}_{i + 1})s" for i in range(count))

        sql = POSTCOMPILE.sub(render, self.sql)
        result = (sql, self.order)
        self.expanded_sql[sizes] = result
        return result

    def rows(self, raw_rows: list[tuple], description: Sequence[Any]) -> list[Any]:
        make = self.row_type._make  # type: ignore[union-attr]
        processors = self.result_processors
        if processors is None:
            processors = self.result_processors = self.processed_columns(description)
        if not processors:
            return list(map(make, raw_rows))
        rows = []
        for raw in raw_rows:
            values = list(raw)
            for index, process in processors:
                values[index] = process(values[index])
            rows.append(make(values))
        return rows

    def processed_columns(self, description: Sequence[Any]) -> list[tuple[int, Callable]]:
        """(index, processor) of each result column whose value SQLAlchemy would process; the
        others are taken as the DBAPI gives them (touched once a row, not once a column)."""
        processors = (
            result_processor(column.type, self.dialect, found[1])
            for column, found in zip(self.columns, description, strict=True)
        )
        return [(index, p) for index, p in enumerate(processors) if p is not None]


def _flatten(values: dict[str, Any], order: list[str], expanding: set[str]) -> Iterator[Any]:
    for name in order:
        if name in expanding:
            yield from values[name]
        else:
            yield values[name]


def _column_name(column: Any, index: int) -> str:
    name = getattr(column, "key", None) or getattr(column, "name", None)
    return str(name) if name else f"c{index}"


def _insert_defaults(statement: Insert) -> dict[str, Callable[[], Any]]:
    """Python-side defaults of the table's columns, as zero-argument makers."""
    makers: dict[str, Callable[[], Any]] = {}
    for column in statement.table.columns:
        default: Any = column.default
        if default is None:
            continue
        if getattr(default, "is_scalar", False):
            makers[column.key] = _constant(default.arg)
        elif getattr(default, "is_callable", False):
            makers[column.key] = _called(default.arg)
        else:
            raise NotFast(f"default of {column.key}")
    return makers


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _called(make: Callable[[Any], Any]) -> Callable[[], Any]:
    """A callable column default, called as SQLAlchemy calls it (with no context)."""
    return lambda: make(None)


class Prepared:
    """A statement built once (at import) for `execute`, with its plans per dialect and set of
    parameter names. Only prepared statements take the fast path: compiling costs far more than
    running, so a statement built per call must stay with SQLAlchemy (whose cache handles it).

    A statement only some dialects can express (an upsert) is given per dialect name.

    `autoflush=True`: run on a store holding ORM changes (a Session, a write lease's), the
    statement sees them, as the ORM query it stands for would: they are flushed first. A read
    that write flows call after adding or changing rows through the ORM needs it; a read lease
    holds none, so there it costs nothing."""

    __slots__ = ("statements", "plans", "autoflush")

    def __init__(
        self, statement: ClauseElement | Mapping[str, ClauseElement], autoflush: bool = False
    ) -> None:
        self.statements = dict(statement) if isinstance(statement, Mapping) else {"": statement}
        self.plans: dict[tuple[str, tuple[str, ...]], Plan | None] = {}
        self.autoflush = autoflush

    def statement_for(self, dialect: Dialect) -> Any:
        found = self.statements.get(dialect.name, self.statements.get(""))
        if found is None:
            raise NotFast(f"no statement for the {dialect.name} dialect")
        return found

    def plan(self, dialect: Dialect, keys: tuple[str, ...]) -> Plan | None:
        key = (dialect.name, keys)
        if key in self.plans:
            return self.plans[key]
        try:
            plan: Plan | None = Plan(self.statement_for(dialect), dialect, keys)
        except NotFast:
            plan = None
        self.plans[key] = plan
        return plan


def prepared(
    statement: ClauseElement | Mapping[str, ClauseElement], autoflush: bool = False
) -> Prepared:
    return Prepared(statement, autoflush)


class _Pin:
    """One pooled SQLite connection an engine keeps checked out for the thread that serves
    requests (the event loop's), so a lease there skips the pool's checkout and reset (about a
    third of an indexed read's cost). `busy` while a lease holds it: a second lease at the same
    time (none awaits inside one, but nothing relies on that) takes a pooled connection.

    SQLAlchemy's nearest tools do not replace it (docs/adr/0002-fastsql.md): a
    `SingletonThreadPool` hands two leases open at once in one thread the same connection (the
    `busy` flag is what sends the second to the pool), and `pool_reset_on_return=None` drops
    only the reset, not the checkout."""

    __slots__ = ("raw", "thread", "busy")

    def __init__(self, raw: Any, thread: threading.Thread) -> None:
        self.raw = raw
        self.thread = thread
        self.busy = False


# Per engine, dropped with it. Only SQLite pins: a SQLite connection outside a transaction sees
# every commit (WAL), and there is no server to lose it; PostgreSQL keeps the pool's liveness
# check (a write lease's BEGIN, core/db.checking_out) or retries a read (Lease.retried).
_pins: weakref.WeakKeyDictionary[Engine, _Pin] = weakref.WeakKeyDictionary()


def _take_pin(engine: Engine) -> _Pin | None:
    if engine.dialect.name != "sqlite":
        return None
    current = threading.current_thread()
    pin = _pins.get(engine)
    if pin is None or (pin.thread is not current and not pin.thread.is_alive()):
        if pin is not None:  # its thread is gone (a test client's loop): pin for this one
            _pins.pop(engine, None)
            pin.raw.close()
        pin = _Pin(engine.raw_connection(), current)
        _pins[engine] = pin
    if pin.busy or pin.thread is not current:
        return None
    pin.busy = True
    return pin


class Lease:
    """One DBAPI connection for one request's statements, without an ORM Session.

    The cheapest way to the store (about a fifth of a Session's cost): `execute` runs on it,
    `commit()` makes its writes stay, leaving (or `close()`) rolls back whatever was not
    committed and hands the connection back (to the pool, whose reset on return does the
    rollback, or to the engine's pin).
    `connection` gives SQLAlchemy's Core Connection over the same DBAPI connection (same
    transaction), for what only SQLAlchemy runs.
    """

    __slots__ = ("engine", "dialect", "raw", "_core", "_pin", "unchecked", "reads_only")

    def __init__(self, engine: Engine, reads_only: bool = False) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.unchecked = False
        self.reads_only = reads_only
        self._pin = _take_pin(engine)
        self.raw: Any = (
            self._pin.raw if self._pin is not None else self.checkout(engine, reads_only)
        )
        self._core: Connection | None = None

    def checkout(self, engine: Engine, reads_only: bool) -> Any:
        """PostgreSQL, a lease that only reads (`read_lease`): its statements run in
        autocommit (under READ COMMITTED each statement of a transaction sees a snapshot of its
        own anyway, so they read the same: the BEGIN and the ROLLBACK are two round trips
        fewer), on a connection the pool does not ping: a dead one fails the first statement,
        which runs again on another (`retried`)."""
        if not reads_only or self.dialect.name != "postgresql":
            return engine.raw_connection()
        with checking_out(UNCHECKED):
            raw: Any = engine.raw_connection()
        raw.dbapi_connection.autocommit = True
        self.unchecked = True
        return raw

    def retried(self, exc: Any) -> bool:
        """After `exc` on the lease's unchecked connection (a read lease's first statement):
        if the connection is dead, the lease takes another (checked by the pool's ping), and
        the statement should run again."""
        if not self.unchecked or self._core is not None:
            return False
        self.unchecked = False
        dbapi = self.raw.dbapi_connection
        if not self.dialect.is_disconnect(exc, dbapi, None):
            return False
        self.raw.invalidate(exc)
        self.raw.close()
        self.raw = self.engine.raw_connection()
        self.raw.dbapi_connection.autocommit = True
        return True

    def store_version(self) -> Any | None:
        """A token equal between two leases only if nothing was committed to the store in
        between (what a per-process cache of rows can trust), or None where there is none.

        A read lease on the engine's pinned SQLite connection: (the connection, the rows it
        has changed itself, its `PRAGMA data_version`, which changes with every commit of any
        other connection). The connection is outside a transaction when a read lease holds
        it, so a row read under a token is a committed one. Any other lease: None (a write
        lease may roll back what it read; WriteLease answers for a grouped one)."""
        if self._pin is None or not self.reads_only:
            return None
        dbapi = self.raw.dbapi_connection
        version = dbapi.statement_cursor.execute("PRAGMA data_version").fetchone()[0]
        return dbapi.serial, dbapi.total_changes, version

    @property
    def connection(self) -> Connection:
        if self._core is None:
            if self._pin is not None:
                # A Core Connection hands its connection back to the pool when it closes:
                # this lease's connection stops being the pin.
                _pins.pop(self.engine, None)
                self._pin = None
            self._core = Connection(self.engine, connection=self.raw)
        return self._core

    def execute(self, statement: ClauseElement, params: Any = None) -> Result | Any:
        return execute(self, statement, params)

    def get_bind(self, *args: Any, **kwargs: Any) -> Engine:
        """The engine, as a Session on it answers (per-store caches key on it)."""
        return self.engine

    def commit(self) -> None:
        if self._core is not None and self._core.in_transaction():
            self._core.commit()
        try:
            self.raw.commit()
        except self.dialect.loaded_dbapi.Error as exc:
            raise as_sqlalchemy_error(self.dialect, exc, "COMMIT", None) from exc

    def close(self) -> None:
        pin = self._pin
        if pin is not None:
            self._pin = None
            try:
                dbapi = self.raw.dbapi_connection
                if dbapi.in_transaction:  # what the pool's reset would undo
                    dbapi.rollback()
            except Exception:
                _pins.pop(self.engine, None)  # unusable: the next lease pins a fresh one
                self.raw.invalidate()
                raise
            finally:
                pin.busy = False
            return
        self.end_autocommit()
        if self._core is not None:
            self._core.close()  # hands `raw` back to the pool too
        else:
            self.raw.close()  # the pool's reset on return rolls back what was not committed

    def end_autocommit(self) -> None:
        """A connection goes back to the pool out of autocommit (or not at all)."""
        dbapi = self.raw.dbapi_connection
        if dbapi is None or self.dialect.name != "postgresql" or not dbapi.autocommit:
            return
        try:
            dbapi.autocommit = False
        except Exception:
            self.raw.invalidate()  # never handed to a writer in autocommit

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def lease(engine: Engine) -> Lease:
    return Lease(engine)


def read_lease(engine: Engine) -> Lease:
    """A lease for a request that only reads (ADR 0004): in autocommit on PostgreSQL, so
    anything written on it would be committed at once."""
    return Lease(engine, reads_only=True)


class WriteLease(Lease):
    """A lease for a request that writes, passed where the services take an ORM Session.

    Their hot statements are prepared ones and run on the DBAPI connection, as on any lease.
    What needs the ORM (an object added, loaded or merged, a savepoint) is delegated to a
    Session created on first use over this lease's connection and transaction, so the two
    commit or roll back together. A request that never needs it pays for no Session at all:
    a Session's begin, flush checks and close cost more than the request's SQL on SQLite
    (about 100 µs a request here).

    `grouped=True` (SQLite, inside the event loop): the lease runs in its engine's commit group
    (core/groupcommit): `commit()` keeps its work in the group, and the caller awaits
    `committed()` after closing the lease, before it answers.
    """

    __slots__ = ("_orm", "info", "_group", "_waiter")

    def __init__(self, engine: Engine, grouped: bool = False) -> None:
        self._orm: Session | None = None
        self.info: dict[Any, Any] = {}  # as Session.info, for this request
        self._waiter: Any = None
        group = groupcommit.group_for(engine) if grouped else None
        raw = group.enter(self) if group is not None else None
        if raw is None:
            self._group = None
            # A write on the pin or a pooled connection must not wait for the group's lock.
            groupcommit.commit_open_group(engine)
            super().__init__(engine)
            return
        self._group = group
        self.engine = engine
        self.dialect = engine.dialect
        self.unchecked = False
        self.reads_only = False
        self._pin = None
        self.raw = raw
        self._core = None

    def checkout(self, engine: Engine, reads_only: bool = False) -> Any:
        """Its transaction begins with the pool's liveness check (core/db.checking_out)."""
        with checking_out(BEGIN):
            return engine.raw_connection()

    @property
    def orm(self) -> Session:
        if self._orm is None:
            self._orm = Session(bind=self.connection, expire_on_commit=False)
        return self._orm

    @property
    def connection(self) -> Connection:
        if self._group is not None and self._core is None:
            # Over the group's connection, never closed (that would hand it back to the pool):
            # its commits and rollbacks reach the connection, which keeps them in the group.
            self._core = Connection(self.engine, connection=self.raw)
        return super().connection

    # --- the ORM part of the store interface (core/store.Store), on the lease's Session ------

    def exec(self, statement: Any) -> Any:
        return self.orm.exec(statement)

    def scalars(self, statement: Any, params: Any = None) -> Any:
        return self.orm.scalars(statement, params)

    def get(
        self,
        entity: type[T],
        ident: Any,
        *,
        with_for_update: Any = None,
        populate_existing: bool = False,
    ) -> T | None:
        return self.orm.get(
            entity, ident, with_for_update=with_for_update, populate_existing=populate_existing
        )

    def add(self, instance: object) -> None:
        self.orm.add(instance)

    def delete(self, instance: object) -> None:
        self.orm.delete(instance)

    def merge(self, instance: T) -> T:
        return self.orm.merge(instance)

    def expire(self, instance: object) -> None:
        self.orm.expire(instance)

    def expire_all(self) -> None:
        if self._orm is not None:  # no Session: nothing loaded to expire
            self._orm.expire_all()

    def expunge(self, instance: object) -> None:
        self.orm.expunge(instance)

    def begin_nested(self) -> AbstractContextManager[Any]:
        return self.orm.begin_nested()

    def get_transaction(self) -> Any:
        return self.orm.get_transaction()

    def __contains__(self, instance: object) -> bool:
        # Only a Session the request made can hold the object.
        return self._orm is not None and instance in self._orm

    def loaded(self, model: type, key: tuple) -> Any:
        """The ORM copy of this row the request holds, or None (no Session: none)."""
        if self._orm is None:
            return None
        return self._orm.identity_map.get(self._orm.identity_key(model, key))

    def execute(self, statement: Any, params: Any = None) -> Result | Any:
        """Prepared statements on the DBAPI connection; any other as Session.execute runs it
        (ORM statements, autoflush), as the services expect of their `db`."""
        if isinstance(statement, Prepared):
            return execute(self, statement, params)
        return self.orm.execute(statement, params)

    def flush(self) -> None:
        if self._orm is not None:
            self._orm.flush()

    def in_transaction(self) -> bool:
        return True  # as a Session that has run statements: the lease holds its connection

    def commit(self) -> None:
        if self._orm is not None:
            self._orm.commit()  # flushes, then commits the connection's transaction
        if self._group is not None:
            self.raw.dbapi_connection.commit()  # kept in the group
            return
        super().commit()

    def rollback(self) -> None:
        if self._orm is not None:
            self._orm.rollback()
        if self._core is not None and self._core.in_transaction():
            self._core.rollback()
        self.raw.dbapi_connection.rollback()

    def close(self) -> None:
        if self._orm is not None:
            self._orm.close()
            self._orm = None
        group = self._group
        if group is None:
            super().close()
            return
        self._group = None
        self._core = None  # dropped unclosed: the connection stays the group's
        self._waiter = group.leave(self)

    def store_version(self) -> Any | None:
        """A token equal between two grouped leases only if nothing else was committed to the
        store in between (what a per-process cache of rows can trust); None when not grouped."""
        return self._group.version() if self._group is not None else None

    async def committed(self) -> None:
        """Once the lease is closed: wait until what it committed is stored (a grouped lease's
        group commit; at once otherwise). A group that failed to commit raises here.

        A grouped lease's `commit()` only keeps its work in the group: what it wrote is stored
        when this returns, and not before. Awaited before `close()`, it would return at once
        and the request would answer for a write not yet stored: in debug mode
        (`store.debug_checks()`) that is an AssertionError."""
        if debug_checks():
            assert self._group is None, (
                "group commit: await lease.committed() once the lease is closed; before, the"
                " request would answer before its commit is stored"
            )
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            await waiter


def write_lease(engine: Engine, grouped: bool = False) -> WriteLease:
    return WriteLease(engine, grouped)


def group_of(db: Any) -> groupcommit.Group | None:
    """The commit group `db` writes in (a grouped write lease's), or None."""
    return db._group if isinstance(db, WriteLease) else None


def loaded(db: Store | Lease, model: type, key: tuple) -> Any:
    """The ORM copy of a row `db` holds (its identity map), or None; asks no lease to create
    a Session for it."""
    if isinstance(db, WriteLease):
        return db.loaded(model, key)
    if isinstance(db, Session):
        return db.identity_map.get(db.identity_key(model, key))
    return None


def connection_of(target: Store | Connection | Lease) -> Connection:
    if isinstance(target, Lease):
        return target.connection
    if isinstance(target, Session):
        return target.connection()
    if isinstance(target, Connection):
        return target
    raise TypeError(f"not a store: {type(target).__name__}")


_SESSION_DBAPI = "fastsql.dbapi"


def session_dbapi(session: Session) -> tuple[Dialect, Any]:
    """The dialect and DBAPI connection of the session's transaction, kept on the session for
    as long as that transaction lasts (asking the Session each time costs about 10 µs)."""
    transaction = session.get_transaction()
    kept = session.info.get(_SESSION_DBAPI)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1], kept[2]
    connection = session.connection()
    kept = (session.get_transaction(), connection.dialect, connection.connection.dbapi_connection)
    session.info[_SESSION_DBAPI] = kept
    return kept[1], kept[2]


def hold_write_lock(target: Store | Lease) -> None:
    """SQLite: make the transaction of `target` hold the store's write lock before it reads
    what it is about to write from (a balance it deducts from, a before-image it restores).

    The driver opens a transaction only at the first write, so reads before it see the store
    outside any transaction: another process may commit in between, and the write would rest
    on what it no longer holds. A transaction not open yet is opened with BEGIN IMMEDIATE (it
    waits for the lock like any write); an open one holds the lock already (opened by a write,
    or a commit group's own IMMEDIATE), or, deferred after a group committed mid-request,
    SQLite refuses its first write if anything was committed since it read (a 409, never a
    lost update). PostgreSQL: nothing here; callers lock the rows they read (FOR UPDATE).
    """
    dialect, dbapi = _dbapi_of(target)
    if dialect.name != "sqlite" or dbapi.in_transaction:
        return
    kept = getattr(dbapi, "statement_cursor", None)
    cursor = kept if kept is not None else dbapi.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except dialect.loaded_dbapi.Error as exc:
        raise as_sqlalchemy_error(dialect, exc, "BEGIN IMMEDIATE", None) from exc
    finally:
        if kept is None:
            cursor.close()


def commit(session: Transaction | Lease) -> None:
    """Commit the session's work and end it (the session is closed: its objects stay readable,
    detached). A lease commits its own way.

    The hot paths write through `execute`, so their Session seldom holds ORM changes: then the
    DBAPI connection commits directly, skipping SQLAlchemy's commit machinery, which costs as
    much as SQLite's commit itself. ORM changes are flushed first; a session in a savepoint, or
    one `execute` never ran on, commits the usual way.
    """
    if not isinstance(session, Session):
        session.commit()
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
    kept = session.info.get(_SESSION_DBAPI)
    transaction = session.get_transaction()
    if (
        kept is None
        or transaction is None
        or kept[0] is not transaction
        or session.get_nested_transaction() is not None
    ):
        session.commit()
        session.close()
        return
    try:
        kept[2].commit()
    except kept[1].loaded_dbapi.Error as exc:  # e.g. a serialization failure found at commit
        session.rollback()
        raise as_sqlalchemy_error(kept[1], exc, "COMMIT", None) from exc
    session.close()  # hands the connection back; the pool's reset finds nothing left to undo


class Bound(NamedTuple):
    """A statement's SQL and the DBAPI parameters of each of its executions, built ahead of
    the transaction that runs them (`bind_many`): running it is one executemany."""

    sql: str
    rows: list[Any]


def bind_many(dialect: Dialect, statement: Prepared, params: list[dict[str, Any]]) -> list[Bound]:
    """`params` bound for `statement` (consecutive sets with the same names share one
    executemany, so the rows keep their order); NotFast when the statement cannot run on the
    DBAPI cursor."""
    bound: list[Bound] = []
    for keys, run in itertools.groupby(params, key=_names):
        plan = statement.plan(dialect, keys)
        if plan is None or plan.expanding:
            raise NotFast("a statement for SQLAlchemy")
        bound.append(Bound(plan.sql, [plan.bound(p)[1] for p in run]))
    return bound


def _names(params: dict[str, Any]) -> tuple[str, ...]:
    return tuple(params)


def run_bound(target: Store | Connection | Lease, bound: Bound) -> int:
    """One `Bound` executed in the transaction of `target`; the rows it changed."""
    dialect, dbapi = _dbapi_of(target)
    kept = getattr(dbapi, "statement_cursor", None)
    cursor = kept if kept is not None else dbapi.cursor()
    try:
        cursor.executemany(bound.sql, bound.rows)
        return cursor.rowcount
    except dialect.loaded_dbapi.Error as exc:
        raise as_sqlalchemy_error(dialect, exc, bound.sql, bound.rows[:1]) from exc
    finally:
        if kept is None:
            cursor.close()


def dialect_of(target: Store | Connection | Lease) -> Dialect:
    """The dialect of the store `target` runs on (asks the database nothing)."""
    if isinstance(target, Lease | Connection):
        return target.dialect
    if isinstance(target, Session):
        return target.get_bind().dialect
    raise TypeError(f"not a store: {type(target).__name__}")


def _dbapi_of(target: Store | Connection | Lease) -> tuple[Dialect, Any]:
    if isinstance(target, Lease):
        return target.dialect, target.raw.dbapi_connection
    if isinstance(target, Session):
        return session_dbapi(target)
    if isinstance(target, Connection):
        return target.dialect, target.connection.dbapi_connection
    raise TypeError(f"not a store: {type(target).__name__}")


def execute(
    target: Store | Connection | Lease,
    statement: Prepared | Any,
    params: Any = None,
    raw: bool = False,
) -> Result | Any:
    """Run a statement in the transaction of `target`: a Prepared one on the DBAPI cursor,
    any other through SQLAlchemy.

    A list of parameter sets runs as one executemany (no rows come back). `raw=True`: a
    Prepared statement's rows as the DBAPI gives them (no type processing), e.g. to compare
    with a row seen before.
    """
    if not isinstance(statement, Prepared):
        return connection_of(target).execute(statement, params)
    if statement.autoflush:
        flush_orm_changes(target)
    many = isinstance(params, list)
    first: dict[str, Any] = (params[0] if params else {}) if many else (params or {})
    dialect, dbapi = _dbapi_of(target)
    plan = statement.plan(dialect, tuple(first))
    if plan is None or (plan.expanding and not many and plan.empty_list_in(first)):
        return connection_of(target).execute(statement.statement_for(dialect), params)
    if many and not params:
        return Result([], 0)
    # SQLite's connection (ours) lends one cursor for every statement (each is read to the end
    # before the next); other drivers' cursors are made and closed per statement.
    kept = getattr(dbapi, "statement_cursor", None)
    cursor = kept if kept is not None else dbapi.cursor()
    sql, values = plan.sql, None
    try:
        if many:
            bound = [plan.bound(p) for p in params]
            cursor.executemany(bound[0][0], [b[1] for b in bound])
            return Result([], cursor.rowcount)
        sql, values = plan.bound(first)
        cursor.execute(sql, values)
        if not plan.returns_rows:
            rows = []
        elif raw:
            rows = [plan.row_type._make(row) for row in cursor.fetchall()]  # type: ignore[union-attr]
        else:
            rows = plan.rows(cursor.fetchall(), cursor.description)
        return Result(rows, cursor.rowcount)
    except dialect.loaded_dbapi.Error as exc:
        if isinstance(target, Lease) and target.retried(exc):
            return execute(target, statement, params, raw)
        raise as_sqlalchemy_error(dialect, exc, sql, values) from exc
    finally:
        if kept is None:
            cursor.close()


def flush_orm_changes(target: Store | Connection | Lease) -> None:
    """Write out the ORM changes `target` holds (a Session's; a write lease's Session, if it
    made one): a prepared statement runs on the DBAPI connection, past the ORM's autoflush."""
    if isinstance(target, Session | WriteLease):
        target.flush()


def as_sqlalchemy_error(dialect: Dialect, exc: Exception, sql: str, params: Any) -> Exception:
    """The DBAPI's exception as SQLAlchemy would raise it (IntegrityError, OperationalError,
    ...), so callers catch the same classes whichever way the statement ran."""
    return DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error)


if TYPE_CHECKING:

    def _both_are_stores(session: Session, lease: WriteLease) -> tuple[Transaction, Transaction]:
        """Checked by mypy only: the ORM Session and the write lease both offer `Transaction`
        (so `Store`), method for method."""
        return session, lease
