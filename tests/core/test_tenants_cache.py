"""A tenant found by its credential is the store's row. The process keeps the row between
requests and skips reading it again while a store version says nothing was committed since
(core/fastsql `store_version`); whatever was committed since, by another connection or through
the pinned connection itself, the next lookup sees."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine

from simulator.core import fastsql, tenants
from simulator.core.db import make_engine
from simulator.core.models import Tenant
from tests.conftest import DEFAULT_CREDENTIALS

KEY = DEFAULT_CREDENTIALS["talonone"]["Authorization"].split(" ", 1)[1]


@pytest.fixture
def engine(make_client: Callable[..., TestClient], tmp_path: Path) -> Iterator[Engine]:
    """An engine of this test's thread (its pin is this thread's) on an SQLite store, even when
    the suite runs on PostgreSQL: the pinned connection and its data_version are SQLite's."""
    url = f"sqlite:///{tmp_path / 'tenants.db'}"
    make_client(database_url=url)  # the schema and the default tenant
    engine = make_engine(url)
    yield engine
    engine.dispose()


def offset_seen(engine: Engine) -> float:
    with fastsql.read_lease(engine) as lease:
        tenant = tenants.by_credential(lease, "talonone", KEY)
        assert tenant is not None
        return tenant.clock_offset_seconds


def set_offset(lease: fastsql.Lease, seconds: float) -> None:
    statement = update(Tenant).where(Tenant.talonone_api_key == KEY)
    fastsql.execute(lease, statement.values(clock_offset_seconds=seconds))


def test_the_version_holds_while_nothing_is_committed(engine: Engine) -> None:
    with fastsql.read_lease(engine) as lease:
        first = lease.store_version()
    with fastsql.read_lease(engine) as lease:
        assert lease.store_version() == first is not None
    with engine.begin() as other:  # a pooled connection, not the pin
        other.execute(update(Tenant).values(name="renamed"))
    with fastsql.read_lease(engine) as lease:
        assert lease.store_version() != first


def test_a_lookup_skips_the_row_while_the_version_holds(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    offset_seen(engine)
    statements: list[object] = []
    execute = fastsql.execute
    monkeypatch.setattr(
        fastsql, "execute", lambda *args, **kw: statements.append(args[1]) or execute(*args, **kw)
    )
    assert offset_seen(engine) == 0.0
    assert statements == []


def test_a_commit_of_another_connection_is_seen(engine: Engine) -> None:
    assert offset_seen(engine) == 0.0
    assert offset_seen(engine) == 0.0  # the second lookup skips the row
    with engine.begin() as other:
        other.execute(
            update(Tenant).where(Tenant.talonone_api_key == KEY).values(clock_offset_seconds=60)
        )
    assert offset_seen(engine) == 60.0


def test_a_commit_through_the_pinned_connection_itself_is_seen(engine: Engine) -> None:
    """Its data_version does not change for its own commits: its count of changed rows does."""
    assert offset_seen(engine) == 0.0
    with fastsql.read_lease(engine) as reader:
        pinned = reader.raw.dbapi_connection
    with fastsql.lease(engine) as writer:
        assert writer.raw.dbapi_connection is pinned
        set_offset(writer, 120)
        writer.commit()
    assert offset_seen(engine) == 120.0


def test_a_write_rolled_back_on_the_pinned_connection_leaves_the_stored_row(
    engine: Engine,
) -> None:
    assert offset_seen(engine) == 0.0
    with fastsql.lease(engine) as writer:
        set_offset(writer, 180)  # never committed
    assert offset_seen(engine) == 0.0


def test_a_lease_off_the_pin_has_no_version(engine: Engine, client: TestClient) -> None:
    """A second lease while the pin is busy, a write lease not grouped, and any lease on
    PostgreSQL (the suite's store, when it runs there): the row is read again every time."""
    with fastsql.read_lease(engine) as first, fastsql.read_lease(engine) as second:
        assert first.store_version() is not None
        assert second.store_version() is None
    with fastsql.lease(engine) as writer:
        assert writer.store_version() is None
    suite_store = client.app.state.engine
    if suite_store.dialect.name == "postgresql":
        with fastsql.read_lease(suite_store) as lease:
            assert lease.store_version() is None


def test_reads_stop_answering_once_their_tenant_is_deleted(client: TestClient, new_tenant) -> None:
    tenant = new_tenant()
    headers = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    inventory = "/v1/customer_profiles/customer-1/inventory?profile=true"
    for _ in range(2):
        assert client.get(inventory, headers=headers).status_code == 200
    assert client.delete(f"/__admin/tenants/{tenant['id']}").status_code == 204
    gone = client.get(inventory, headers=headers)
    assert gone.status_code == 401
    assert gone.json()["message"] == "Invalid API key"
