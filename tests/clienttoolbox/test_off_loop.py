"""Batches run in a worker thread, prepared first and written in a short transaction: a write
of the same tenant that lands in between makes the batch work itself out again, so no update
is lost and the batch stays one transaction."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulator.clienttoolbox import writes
from simulator.core.clock import real_now
from simulator.core.db import new_session
from simulator.core.models import Tenant
from tests.clienttoolbox.helpers import balance, customer, xml
from tests.clienttoolbox.test_customers_batch import STRICT_WORLD, batch, run
from tests.conftest import POSTGRES_URL


@pytest.fixture
def strict(new_tenant) -> dict[str, Any]:
    from tests.clienttoolbox.helpers import tenant_credentials

    tenant = new_tenant(fixtures=STRICT_WORLD)
    return {"id": tenant["id"], "credentials": tenant_credentials(tenant)}


# These tests slip a write of the same customers in between a batch's preparation and its write,
# in the batch's own thread. That can only happen on SQLite, where the guard is what protects
# the batch; on PostgreSQL the preparation holds the rows it read (FOR UPDATE), so such a
# write waits for the batch (here: for ever, in the same thread). tests/sandbox covers the
# PostgreSQL side with real concurrent batches.
sqlite_interleaving = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="PostgreSQL: the batch's row locks make the writer wait instead"
)


def fields_of(form: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in form.items()}


@pytest.fixture
def interleave(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    """Run `writes` of another batch of the tenant just before the next batch writes (between
    its preparation and its write transaction); count the batches worked out again."""
    pending: list[tuple[str, dict[str, str]]] = []
    redone: list[str] = []
    real_move, real_hold = writes.move_guard, writes.hold_guard

    def move_guard(session: Any, tenant_id: str, seen: Any) -> bool:
        while pending:
            other_tenant, fields = pending.pop(0)
            engine = client.app.state.engine
            with new_session(engine) as other:
                tenant = other.get(Tenant, other_tenant)
            writes.customers_batch_call(engine, tenant, fields, real_now(), 0)
        return real_move(session, tenant_id, seen)

    def hold_guard(session: Any, tenant_id: str) -> None:
        redone.append(tenant_id)
        real_hold(session, tenant_id)

    monkeypatch.setattr(writes, "move_guard", move_guard)
    monkeypatch.setattr(writes, "hold_guard", hold_guard)
    return pending, redone


@sqlite_interleaving
def test_a_batch_written_meanwhile_makes_the_next_one_redo(
    client: TestClient, strict: dict, interleave
) -> None:
    pending, redone = interleave
    other = batch(["code", "auto_add"], "C1|5\n", overwrite_duplicates="update")
    pending.append((strict["id"], fields_of(other)))
    body = xml(
        run(client, strict, **batch(["code", "auto_add"], "C1|25\n", overwrite_duplicates="update"))
    )
    assert body["@status"] == "success", body
    assert redone == [strict["id"]]
    # C1 had 10: both credits count, none overwrote the other with what it had read.
    assert balance(client, "C1", "100", tenant_id=strict["id"]) == 40
    history = customer(client, "C1", strict["id"])["transactions"]
    assert sorted(t["value"] for t in history) == [5, 25]
    states = client.get(f"/__admin/tenants/{strict['id']}/clienttoolbox/undo-states").json()
    assert [s["id"] for s in states["undoStates"]] == [2, 1]


def test_another_tenants_batch_meanwhile_costs_no_redo(
    client: TestClient, strict: dict, new_tenant, interleave
) -> None:
    pending, redone = interleave
    neighbour = new_tenant(fixtures=STRICT_WORLD)
    pending.append(
        (
            neighbour["id"],
            fields_of(batch(["code", "auto_add"], "C1|5\n", overwrite_duplicates="update")),
        )
    )
    xml(
        run(client, strict, **batch(["code", "auto_add"], "C1|25\n", overwrite_duplicates="update"))
    )
    assert redone == []
    assert balance(client, "C1", "100", tenant_id=strict["id"]) == 35
    assert balance(client, "C1", "100", tenant_id=neighbour["id"]) == 15


@sqlite_interleaving
def test_a_reset_meanwhile_makes_the_batch_redo_on_the_fresh_data(
    client: TestClient, strict: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fixtures load moves the tenant's cache revision: what was prepared is not written."""
    xml(
        run(client, strict, **batch(["code", "auto_add"], "C1|5\n", overwrite_duplicates="update"))
    )  # C1: 15
    real_move = writes.move_guard
    settings = client.app.state.settings

    def move_guard(session: Any, tenant_id: str, seen: Any) -> bool:
        from simulator.core import tenants

        with new_session(client.app.state.engine) as other:
            tenants.reset(other, other.get(Tenant, tenant_id), settings)  # C1: 10 again
        return real_move(session, tenant_id, seen)

    monkeypatch.setattr(writes, "move_guard", move_guard)
    xml(
        run(client, strict, **batch(["code", "auto_add"], "C1|25\n", overwrite_duplicates="update"))
    )
    assert balance(client, "C1", "100", tenant_id=strict["id"]) == 35


def test_a_refused_batch_takes_no_number(client: TestClient, strict: dict) -> None:
    """Prepared batches take their numbers in memory: one refused whole leaves the counters
    as they were, so the next batch gets the next number."""
    refused = run(client, strict, **batch(["code", "auto_add"], "R1|x\n", on_line_error="reject"))
    assert refused.status_code == 400
    body = xml(run(client, strict, **batch(["code"], "R2\n")))
    assert body["batch"]["undo_state"] == "1"
