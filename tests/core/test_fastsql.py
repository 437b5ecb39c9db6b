"""core.fastsql runs a Core statement on the DBAPI cursor with SQLAlchemy's own types: every
statement here gives the same rows, and writes the same values, as SQLAlchemy's execute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, bindparam, insert, select, update
from sqlalchemy.engine import Engine

from simulator.core import fastsql
from simulator.core.db import make_engine, new_session
from simulator.core.models import IdSequence, Tenant
from simulator.talonone.models.core import TalonSession

SESSIONS = TalonSession.__table__
SEQUENCES = IdSequence.__table__
BY_ID = select(SESSIONS).where(
    SESSIONS.c.tenant_id == bindparam("tenant"), SESSIONS.c.integration_id == bindparam("sid")
)
FAST_BY_ID = fastsql.prepared(BY_ID)
BY_IDS = select(SESSIONS.c.integration_id, SESSIONS.c.state).where(
    SESSIONS.c.tenant_id == bindparam("tenant"),
    SESSIONS.c.integration_id.in_(bindparam("sids", expanding=True)),
)
FAST_BY_IDS = fastsql.prepared(BY_IDS)
OPEN_ONES = fastsql.prepared(
    select(SESSIONS.c.integration_id).where(
        SESSIONS.c.tenant_id == bindparam("tenant"), SESSIONS.c.state == "open"
    )
)
INSERT = insert(SESSIONS)
FAST_INSERT = fastsql.prepared(INSERT)
UPDATE = fastsql.prepared(
    update(SESSIONS)
    .where(SESSIONS.c.tenant_id == bindparam("t"), SESSIONS.c.id == bindparam("i"))
    .values(state=bindparam("new_state"), effects=bindparam("new_effects"))
)
TAKE = fastsql.prepared(
    update(SEQUENCES)
    .where(SEQUENCES.c.tenant_id == bindparam("t"), SEQUENCES.c.name == bindparam("n"))
    .values(value=SEQUENCES.c.value + bindparam("step"))
    .returning(SEQUENCES.c.value)
)
NOW = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.fixture
def engine(client) -> Engine:
    return client.app.state.engine


def session_values(n: int, **changes) -> dict:
    values = {
        "tenant_id": "default",
        "id": 9000 + n,
        "integration_id": f"fast-{n}",
        "profile_id": f"p-{n}",
        "state": "open",
        "data": {"cartItems": [{"sku": "A", "price": 1.5, "quantity": 2}], "n": n},
        "effects": [{"effectType": "setDiscount", "props": {"value": 2.5}}],
        "first_session": n % 2 == 0,
        "update_count": 1,
        "counted_sales": 0.0,
        "created": NOW,
        "updated": NOW + timedelta(seconds=n),
    }
    values.update(changes)
    return values


def test_fast_rows_equal_sqlalchemy_rows(engine: Engine) -> None:
    with new_session(engine) as db:
        fastsql.execute(db, FAST_INSERT, session_values(1))
        db.connection().execute(INSERT, session_values(2))
        db.commit()
    with new_session(engine) as db:
        for sid in ("fast-1", "fast-2", "missing"):
            params = {"tenant": "default", "sid": sid}
            ours = fastsql.execute(db, FAST_BY_ID, params).first()
            theirs = db.connection().execute(BY_ID, params).first()
            assert (ours is None) == (theirs is None)
            if ours is not None:
                assert tuple(ours) == tuple(theirs)
                assert ours.data == theirs.data and ours.updated == theirs.updated
                assert ours.created.tzinfo is not None and isinstance(ours.first_session, bool)


def test_expanding_and_literal_binds(engine: Engine) -> None:
    with new_session(engine) as db:
        fastsql.execute(db, FAST_INSERT, [session_values(n) for n in range(3, 7)])
        fastsql.execute(db, FAST_INSERT, session_values(7, state="closed"))
        db.commit()
    with new_session(engine) as db:
        for sids in (["fast-3", "fast-5", "nope"], ["fast-4"], []):
            params = {"tenant": "default", "sids": sids}
            ours = sorted(tuple(r) for r in fastsql.execute(db, FAST_BY_IDS, params))
            theirs = sorted(tuple(r) for r in db.connection().execute(BY_IDS, params))
            assert ours == theirs
        opened = fastsql.execute(db, OPEN_ONES, {"tenant": "default"}).scalars()
        assert sorted(opened) == ["fast-3", "fast-4", "fast-5", "fast-6"]


def test_update_and_returning_count_and_roll_back(engine: Engine) -> None:
    with new_session(engine) as db:
        fastsql.execute(db, FAST_INSERT, session_values(8))
        db.commit()
    with new_session(engine) as db:
        changed = fastsql.execute(
            db, UPDATE, {"t": "default", "i": 9008, "new_state": "closed", "new_effects": []}
        )
        assert changed.rowcount == 1
        missing = fastsql.execute(
            db, UPDATE, {"t": "default", "i": 1, "new_state": "closed", "new_effects": []}
        )
        assert missing.rowcount == 0
        db.rollback()  # a rolled-back fast write leaves nothing
    with new_session(engine) as db:
        row = fastsql.execute(db, FAST_BY_ID, {"tenant": "default", "sid": "fast-8"}).first()
        assert row.state == "open" and row.effects == session_values(8)["effects"]
    with new_session(engine) as db:
        db.add(IdSequence(tenant_id="default", name="fast.test", value=5))
        db.commit()
        taken = fastsql.execute(db, TAKE, {"t": "default", "n": "fast.test", "step": 3})
        assert taken.scalar_one() == 8
        db.commit()
        assert db.get(IdSequence, ("default", "fast.test")).value == 8


def test_insert_fills_python_defaults(engine: Engine) -> None:
    """Columns left out of an INSERT get their column defaults, as with SQLAlchemy."""
    statement = insert(Tenant.__table__)
    fast_statement = fastsql.prepared(statement)

    def values(name: str) -> dict:
        return {
            "id": name,
            "customergauge_api_key": f"cg-{name}",
            "clienttoolbox_user_id": "u",
            "clienttoolbox_user_api_key": f"ct-{name}",
            "clienttoolbox_account_id": "a",
            "talonone_api_key": f"talon-{name}",
            "ecdp_api_key": f"ecdp-{name}",
            "created_at": NOW,
        }

    with new_session(engine) as db:
        fastsql.execute(db, fast_statement, values("fast"))
        db.connection().execute(statement, values("slow"))
        db.commit()
        rows = db.connection().execute(
            select(Tenant.__table__).where(Tenant.id.in_(["fast", "slow"])).order_by(Tenant.id)
        )
    fast, slow = ({k: v for k, v in r._mapping.items() if not k.endswith("_key")} for r in rows)
    assert fast.pop("id") == "fast" and slow.pop("id") == "slow"
    # A callable default runs for each row: both get a fresh random revision.
    revisions = fast.pop("cache_revision"), slow.pop("cache_revision")
    assert all(isinstance(r, int) and r > 0 for r in revisions) and revisions[0] != revisions[1]
    assert fast == slow
    assert fast["clock_frozen"] is False and fast["clock_offset_seconds"] == 0.0


def test_statements_it_cannot_plan_run_through_sqlalchemy(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    literal = fastsql.prepared(select(bindparam("x", type_=Integer(), literal_execute=True)))
    with engine.connect() as connection:
        assert fastsql.execute(connection, literal, {"x": 5}).scalar() == 5
        # a statement that was not prepared runs through SQLAlchemy too
        assert fastsql.execute(connection, select(bindparam("y", 7))).scalar() == 7
    engine.dispose()


def test_a_lease_commits_or_rolls_back(engine: Engine) -> None:
    with fastsql.lease(engine) as lease:
        fastsql.execute(lease, FAST_INSERT, session_values(10))
        lease.commit()
        fastsql.execute(lease, FAST_INSERT, session_values(11))
    with fastsql.lease(engine) as lease:
        found = fastsql.execute(
            lease, FAST_BY_IDS, {"tenant": "default", "sids": ["fast-10", "fast-11"]}
        )
        assert [tuple(r) for r in found] == [("fast-10", "open")]
        # empty IN lists run through SQLAlchemy's Core connection over the same DBAPI connection
        assert fastsql.execute(lease, FAST_BY_IDS, {"tenant": "default", "sids": []}).all() == []


def test_sqlite_datetime_text_is_sqlalchemys(tmp_path) -> None:
    """The fast UTCDateTime processors write and read exactly what SQLAlchemy's do."""
    from sqlalchemy.dialects import sqlite

    from simulator.core.db import UTCDateTime

    dialect = sqlite.dialect()
    theirs_in = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs_out = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    samples = [
        NOW,
        NOW.replace(microsecond=0),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2030, 5, 6, 9, 8, 9, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2030, 5, 6, 9, 8, 9),  # naive: taken as UTC
        None,
    ]
    for value in samples:
        assert fastsql.sqlite_utc_text(value) == theirs_in(value)
        text = theirs_in(value)
        mine, theirs = fastsql.sqlite_utc_value(text), theirs_out(text)
        assert mine == theirs
        assert getattr(mine, "tzinfo", None) is getattr(theirs, "tzinfo", None)
    # Text with an offset of its own (the store never writes one): its clock reading, in UTC,
    # as SQLAlchemy reads it.
    for text in ("2030-05-06 09:08:09+02:00", "2030-05-06 09:08:09.000005+00:00", "2030-05-06"):
        mine, theirs = fastsql.sqlite_utc_value(text), theirs_out(text)
        assert (mine, mine.tzinfo) == (theirs, UTC)


def test_database_errors_are_sqlalchemys(engine: Engine) -> None:
    """A unique-key clash raises SQLAlchemy's IntegrityError, as through SQLAlchemy, so the
    callers' `except IntegrityError` (a concurrent create: 409 or retry) catches it."""
    from sqlalchemy.exc import IntegrityError

    with new_session(engine) as db:
        fastsql.execute(db, FAST_INSERT, session_values(20))
        db.commit()
    with new_session(engine) as db:
        with pytest.raises(IntegrityError) as raised:
            fastsql.execute(db, FAST_INSERT, session_values(20))
        assert "talonone_session" in str(raised.value) or "UNIQUE" in str(raised.value).upper()
        db.rollback()
        # the session is usable again after its rollback
        assert fastsql.execute(db, FAST_BY_ID, {"tenant": "default", "sid": "fast-20"}).first()


def test_a_statement_given_per_dialect_runs_the_dialects_own(engine: Engine) -> None:
    """An upsert is written per dialect; `execute` picks the one of the store it runs on."""
    from sqlalchemy.dialects import postgresql, sqlite

    def upsert(dialect):
        statement = dialect.insert(SEQUENCES)
        return statement.on_conflict_do_update(
            index_elements=[SEQUENCES.c.tenant_id, SEQUENCES.c.name],
            set_={"value": statement.excluded.value},
        )

    statement = fastsql.prepared({"sqlite": upsert(sqlite), "postgresql": upsert(postgresql)})
    with new_session(engine) as db:
        for value in (3, 9):
            fastsql.execute(db, statement, {"tenant_id": "default", "name": "both", "value": value})
        db.commit()
        assert db.get(IdSequence, ("default", "both")).value == 9


def test_a_sqlite_lease_reuses_its_threads_pinned_connection(tmp_path) -> None:
    """Back-to-back leases share one connection; one taken while it is busy, or in another
    thread, gets its own; a lease never leaves a transaction open on the pinned one."""
    import threading

    from simulator.core.schema import ensure_schema

    engine = make_engine(f"sqlite:///{tmp_path}/pin.db")
    ensure_schema(engine, True)
    by_id = {"tenant": "t", "sids": ["fast-1", "fast-2"]}
    with fastsql.lease(engine) as first:
        pinned = first.raw.dbapi_connection
        with fastsql.lease(engine) as nested:  # the pin is busy: a pooled connection
            assert nested.raw.dbapi_connection is not pinned
            fastsql.execute(nested, FAST_INSERT, session_values(1, tenant_id="t"))
            nested.commit()
        # what another connection committed is seen at once
        assert len(fastsql.execute(first, FAST_BY_IDS, by_id).all()) == 1
        fastsql.execute(first, FAST_INSERT, session_values(2, tenant_id="t"))  # not committed
    assert not pinned.in_transaction
    with fastsql.lease(engine) as again:
        assert again.raw.dbapi_connection is pinned
        assert [r.integration_id for r in fastsql.execute(again, FAST_BY_IDS, by_id)] == ["fast-1"]
    seen = []

    def other_thread() -> None:
        with fastsql.lease(engine) as lease:
            seen.append(lease.raw.dbapi_connection)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen and seen[0] is not pinned
    # a lease that needed SQLAlchemy's own Connection hands that connection back to the pool;
    # the next lease pins another
    with fastsql.lease(engine) as core_user:
        assert fastsql.execute(core_user, FAST_BY_IDS, {"tenant": "t", "sids": []}).all() == []
    with fastsql.lease(engine) as after:
        assert len(fastsql.execute(after, FAST_BY_IDS, by_id).all()) == 1
        assert after.raw.dbapi_connection is not None
    engine.dispose()


def test_a_write_lease_commits_its_statements_and_orm_objects_together(engine: Engine) -> None:
    """Prepared statements and what is delegated to the ORM share one transaction: both stay
    on commit, neither on rollback or on leaving without a commit."""
    sids = {"tenant": "default", "sids": ["fast-30", "fast-31", "fast-32", "fast-33"]}
    with fastsql.write_lease(engine) as lease:
        fastsql.execute(lease, FAST_INSERT, session_values(30))
        added = TalonSession(**session_values(31))
        assert added not in lease  # no Session yet: it holds nothing
        lease.add(added)  # the store interface's ORM part, on the lease's Session
        assert added in lease  # as `in` on a Session
        lease.flush()
        orm_copy = lease.get(TalonSession, ("default", 9030))
        assert orm_copy.integration_id == "fast-30"  # the ORM sees the statement's row
        assert fastsql.loaded(lease, TalonSession, ("default", 9031)) is added
        fastsql.commit(lease)
    with fastsql.write_lease(engine) as lease:
        fastsql.execute(lease, FAST_INSERT, session_values(32))
        lease.add(TalonSession(**session_values(33)))
        lease.rollback()
    with fastsql.write_lease(engine) as lease:
        fastsql.execute(lease, FAST_INSERT, session_values(32))
        lease.add(TalonSession(**session_values(33)))
        lease.flush()  # written, never committed
    with fastsql.lease(engine) as lease:
        found = sorted(r.integration_id for r in fastsql.execute(lease, FAST_BY_IDS, sids))
    assert found == ["fast-30", "fast-31"]


def test_a_write_lease_without_orm_work_keeps_the_pinned_connection(tmp_path) -> None:
    """A request whose statements are all prepared ones opens no Session: on SQLite its lease
    writes on the pinned connection and hands it back with no transaction open."""
    from simulator.core.schema import ensure_schema

    engine = make_engine(f"sqlite:///{tmp_path}/write.db")
    ensure_schema(engine, True)
    with fastsql.lease(engine) as first:
        pinned = first.raw.dbapi_connection
    with fastsql.write_lease(engine) as lease:
        assert lease.raw.dbapi_connection is pinned
        assert fastsql.loaded(lease, TalonSession, ("t", 9001)) is None
        assert lease.get_bind() is engine  # what per-store caches key on, as a Session's
        fastsql.execute(lease, FAST_INSERT, session_values(1, tenant_id="t"))
        fastsql.commit(lease)
        fastsql.execute(lease, FAST_INSERT, session_values(2, tenant_id="t"))  # left open
    assert not pinned.in_transaction
    with fastsql.lease(engine) as again:
        assert again.raw.dbapi_connection is pinned
        found = fastsql.execute(again, FAST_BY_IDS, {"tenant": "t", "sids": ["fast-1", "fast-2"]})
        assert [r.integration_id for r in found] == ["fast-1"]
    engine.dispose()


def test_parameters_are_bound_in_statement_order_with_their_processors(engine: Engine) -> None:
    """The caller's values go in the statement's order, each through its column's processor
    (JSON, datetime), whether a statement takes one parameter or many."""
    one = fastsql.prepared(select(SEQUENCES.c.value).where(SEQUENCES.c.name == bindparam("n")))
    with new_session(engine) as db:
        fastsql.execute(db, FAST_INSERT, session_values(7))
        fastsql.execute(db, FAST_INSERT, [session_values(8), session_values(9)])
        changed = {"t": "default", "i": 9008, "new_state": "closed", "new_effects": [{"a": 1}]}
        assert fastsql.execute(db, UPDATE, changed).rowcount == 1
        db.commit()
        fast = {
            r.integration_id: r
            for r in fastsql.execute(db, FAST_BY_ID, {"tenant": "default", "sid": "fast-8"})
        }
        slow = db.connection().execute(BY_ID, {"tenant": "default", "sid": "fast-8"}).all()
        assert [tuple(fast["fast-8"])] == [tuple(row) for row in slow]
        assert fast["fast-8"].state == "closed" and fast["fast-8"].effects == [{"a": 1}]
        assert fast["fast-8"].updated == NOW + timedelta(seconds=8)
        assert fastsql.execute(db, one, {"n": "no such counter"}).first() is None
        with pytest.raises(KeyError):
            fastsql.execute(db, UPDATE, {"t": "default", "i": 9008, "new_state": "open"})


SEEING_ORM_CHANGES = fastsql.prepared(BY_ID, autoflush=True)


@pytest.mark.parametrize("store", ["session", "write lease"])
def test_an_autoflush_read_sees_what_the_orm_holds_unflushed(engine: Engine, store: str) -> None:
    """A prepared read declared `autoflush` sees rows added through the ORM and not yet
    flushed, as the ORM query it stands for would; a plain one runs past them."""
    n = 40 if store == "session" else 41
    key = {"tenant": "default", "sid": f"fast-{n}"}
    db = new_session(engine) if store == "session" else fastsql.write_lease(engine)
    with db:
        db.add(TalonSession(**session_values(n)))
        assert fastsql.execute(db, FAST_BY_ID, key).first() is None
        assert fastsql.execute(db, SEEING_ORM_CHANGES, key).first().integration_id == f"fast-{n}"
        db.rollback()
