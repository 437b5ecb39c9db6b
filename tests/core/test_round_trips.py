"""What a request asks of PostgreSQL: a read lease runs in autocommit on an unpinged
connection (a dead one is replaced and the read runs again), a write lease's transaction begins
with the pool's liveness check, a counter's UPDATE rides with the INSERT that takes its number
(core/ids.NumberedInsert). Each holds on SQLite too, where it applies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from simulator.core import fastsql
from simulator.core.ids import NumberedInsert
from simulator.core.models import IdSequence
from simulator.talonone.models.core import TalonProfile

PROFILES = TalonProfile.__table__
SEQUENCES = IdSequence.__table__
NEW_PROFILE = NumberedInsert(PROFILES, unique_on=("tenant_id", "integration_id"))
PROFILE = fastsql.prepared(
    select(PROFILES.c.id).where(
        PROFILES.c.tenant_id == bindparam("tenant"),
        PROFILES.c.integration_id == bindparam("integration_id"),
    )
)
COUNTER = fastsql.prepared(
    select(SEQUENCES.c.value).where(
        SEQUENCES.c.tenant_id == bindparam("tenant"), SEQUENCES.c.name == bindparam("name")
    )
)
NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def engine(client) -> Engine:
    return client.app.state.engine


@pytest.fixture
def tenant(new_tenant) -> str:
    """A tenant with no profile yet, so none of its counters is stored."""
    return new_tenant(fixtures="empty")["id"]


def profile_values(tenant: str, integration_id: str) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "integration_id": integration_id,
        "attributes": {},
        "created": NOW,
        "last_activity": NOW,
        "closed_sessions": 0,
        "total_sales": 0.0,
    }


def counter(engine: Engine, tenant: str, name: str) -> int | None:
    with fastsql.read_lease(engine) as db:
        return fastsql.execute(db, COUNTER, {"tenant": tenant, "name": name}).scalar()


def test_numbered_inserts_take_the_counters_next_values(engine: Engine, tenant: str) -> None:
    name = "test.round_trips"  # no counter row yet: the first insert creates it
    with fastsql.write_lease(engine) as db:
        first = NEW_PROFILE.insert(db, tenant, name, profile_values(tenant, "rt-1"))
        second = NEW_PROFILE.insert(db, tenant, name, profile_values(tenant, "rt-2"))
        db.commit()
    assert (first, second) == (1, 2)
    assert counter(engine, tenant, name) == 2
    with fastsql.read_lease(engine) as db:
        found = fastsql.execute(db, PROFILE, {"tenant": tenant, "integration_id": "rt-2"})
        assert found.scalar() == 2


def test_a_numbered_insert_rolled_back_gives_its_number_back(engine: Engine, tenant: str) -> None:
    name = "test.round_trips"
    with fastsql.write_lease(engine) as db:
        NEW_PROFILE.insert(db, tenant, name, profile_values(tenant, "rt-1"))
        db.commit()
    with fastsql.write_lease(engine) as db:
        assert NEW_PROFILE.insert(db, tenant, name, profile_values(tenant, "rt-2")) == 2
        db.rollback()
    with fastsql.write_lease(engine) as db:
        assert NEW_PROFILE.insert(db, tenant, name, profile_values(tenant, "rt-3")) == 2
        db.commit()
    assert counter(engine, tenant, name) == 2


def test_a_numbered_insert_clashing_on_its_unique_key_leaves_no_row(
    engine: Engine, tenant: str
) -> None:
    name = "test.round_trips"
    with fastsql.write_lease(engine) as db:
        values = profile_values(tenant, "rt-1")
        assert NEW_PROFILE.insert(db, tenant, name, values) == 1
        assert NEW_PROFILE.insert(db, tenant, name, profile_values(tenant, "rt-1")) is None
        # The transaction goes on (no savepoint needed): a later insert still works.
        assert NEW_PROFILE.insert(db, tenant, name, profile_values(tenant, "rt-2")) == 3
        db.commit()
    with fastsql.read_lease(engine) as db:
        found = fastsql.execute(db, PROFILE, {"tenant": tenant, "integration_id": "rt-1"})
        assert found.all() == [(1,)]


def postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's connections (SIM_TEST_DATABASE_URL)")


def end_backend(engine: Engine, pid: int) -> None:
    """The server ends one of the pool's connections (as a restart would), asked on a
    connection of its own (not one of the pool's)."""
    import psycopg

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))


def backend_pid(lease: fastsql.Lease) -> int:
    return lease.raw.dbapi_connection.info.backend_pid


def test_a_read_lease_reads_in_autocommit_and_hands_back_a_transactional_connection(
    engine: Engine,
) -> None:
    postgres_only(engine)
    with fastsql.read_lease(engine) as db:
        dbapi = db.raw.dbapi_connection
        assert dbapi.autocommit
        fastsql.execute(db, COUNTER, {"tenant": "default", "name": "ct_batch"})
        assert dbapi.info.transaction_status == TransactionStatus.IDLE  # no BEGIN sent
    assert not dbapi.autocommit  # back in the pool, ready for a writer's transaction


def test_a_read_lease_on_a_dead_connection_reads_on_another(engine: Engine) -> None:
    postgres_only(engine)
    with fastsql.read_lease(engine) as db:
        dead = backend_pid(db)
    end_backend(engine, dead)
    for _ in range(3):  # whichever pooled connection it is given
        with fastsql.read_lease(engine) as db:
            found = fastsql.execute(db, COUNTER, {"tenant": "default", "name": "ct_batch"})
            assert found.all() == [(0,)]
            assert backend_pid(db) != dead


def test_a_write_lease_begins_its_transaction_at_checkout(engine: Engine, tenant: str) -> None:
    postgres_only(engine)
    with fastsql.write_lease(engine):
        pass  # the pool now holds a connection that is not new: it checks it at checkout
    with fastsql.write_lease(engine) as db:
        status = db.raw.dbapi_connection.info.transaction_status
        assert status == TransactionStatus.INTRANS  # BEGIN sent as the liveness check
        NEW_PROFILE.insert(db, tenant, "test.round_trips", profile_values(tenant, "rt-1"))
        db.commit()
    assert counter(engine, tenant, "test.round_trips") == 1


def test_a_write_lease_on_a_dead_connection_writes_on_another(engine: Engine, tenant: str) -> None:
    postgres_only(engine)
    with fastsql.write_lease(engine) as db:
        dead = backend_pid(db)
    end_backend(engine, dead)
    for n in range(3):
        with fastsql.write_lease(engine) as db:
            assert backend_pid(db) != dead
            NEW_PROFILE.insert(db, tenant, "test.round_trips", profile_values(tenant, f"rt-{n}"))
            db.commit()
    assert counter(engine, tenant, "test.round_trips") == 3
