"""The store interface the services are written against, and the one owner of a transaction.

Two things reach a service as its store: an ORM `Session` (sqlmodel's), and on Talon.One's
hot paths a `fastsql.WriteLease`, which runs prepared statements on the DBAPI connection and
makes an ORM Session over the same connection only when a service asks for the ORM. `Store`
says what both offer, and nothing more: a service typed against it can use either, and the
type checker (`make typecheck`) refuses what only one of them has.

`Store` has no `commit()`: a service never ends the transaction it runs in. Whoever opened the
store ends it, through `unit_of_work`: a route around the service call (its request's session
or lease), background work (a worker thread's batch, the journal writer, the stream worker)
around its own. `docs/architecture.md` ("Transactions") says who owns which.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy.engine import Engine
from sqlmodel import Session

T = TypeVar("T")


@runtime_checkable
class Store(Protocol):
    """What services use of their store: SQLModel's Session and fastsql's WriteLease both."""

    @property
    def info(self) -> dict[Any, Any]:
        """Per-transaction memos of the services (as `Session.info`)."""
        ...

    def execute(self, statement: Any, params: Any = None) -> Any:
        """A Core or ORM statement (fastsql's prepared ones run on the DBAPI cursor)."""
        ...

    def exec(self, statement: Any) -> Any:
        """SQLModel's select: rows as model instances or scalars."""
        ...

    def scalars(self, statement: Any, params: Any = None) -> Any: ...

    def get(
        self,
        entity: type[T],
        ident: Any,
        *,
        with_for_update: Any = None,
        populate_existing: bool = False,
    ) -> T | None:
        """The row by primary key (`with_for_update`: locked, PostgreSQL; `populate_existing`:
        read again over the copy the identity map holds)."""
        ...

    def add(self, instance: object) -> None: ...

    def delete(self, instance: object) -> None: ...

    def merge(self, instance: T) -> T: ...

    def flush(self) -> None: ...

    def expire(self, instance: object) -> None: ...

    def expire_all(self) -> None: ...

    def expunge(self, instance: object) -> None: ...

    def begin_nested(self) -> AbstractContextManager[Any]:
        """A savepoint: what the block did is undone when it raises, the rest kept."""
        ...

    def get_bind(self) -> Any:
        """The engine (per-store caches key on it)."""
        ...

    def get_transaction(self) -> Any:
        """A token of the transaction running now (per-transaction memos compare it)."""
        ...

    def in_transaction(self) -> bool: ...

    def __contains__(self, instance: object) -> bool:
        """The ORM object is in this store's identity map."""
        ...


class Transaction(Store, Protocol):
    """A store together with the end of its transaction: what `unit_of_work` is given, never
    a service."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@contextmanager
def unit_of_work(store: Transaction) -> Iterator[Store]:
    """The one place a transaction ends: commit when the block ends normally, roll back when
    it raises (the exception goes on). The block gets the store as a `Store`, without
    `commit()`; the services it calls write in this transaction."""
    try:
        yield store
    except BaseException:
        store.rollback()
        raise
    store.commit()


@contextmanager
def session_unit(engine: Engine) -> Iterator[Session]:
    """A unit of work on a session of its own (background work, a worker thread's write):
    committed when the block ends normally, rolled back when it raises, closed either way."""
    with Session(engine, expire_on_commit=False) as session, unit_of_work(session):
        yield session


def end_reads(session: Session) -> None:
    """Hand the request's connection back to the pool after what it only read (the auth's
    lookup), before the handler awaits its body: a request must not hold a connection (on
    PostgreSQL, a transaction) while it waits. Nothing is committed; the session begins
    afresh at its next statement. In debug mode (`debug_checks()`), a session holding writes
    fails here instead of losing them."""
    if debug_checks():
        pending = session.new or session.dirty or session.deleted
        assert not pending, "end_reads: the session holds ORM changes; commit them first"
        bind = session.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name == "sqlite" and session.in_transaction():
            dbapi = session.connection().connection.dbapi_connection
            assert not getattr(dbapi, "in_transaction", False), (
                "end_reads: the session wrote; a unit of work must commit it"
            )
    session.close()


def debug_checks() -> bool:
    """The store's invariants are asserted (SIM_DEBUG=1, read at each call: tests switch it).
    Off by default: the checks cost a little on every request."""
    return os.environ.get("SIM_DEBUG", "") not in ("", "0", "false", "no")
