"""The tenant clock: freeze, set, advance; services read it; tenants do not share it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from simulator.core.clock import parse_instant
from tests.conftest import DEFAULT_CREDENTIALS
from tests.core.test_tenants_and_auth import with_test_routes


def service_now(client: TestClient, headers: dict) -> datetime:
    return parse_instant(client.get("/v1/test/whoami", headers=headers).json()["now"])


def test_clock_is_real_time_by_default(client: TestClient) -> None:
    body = client.get("/__admin/tenants/default/clock").json()
    assert body["frozen"] is False
    assert abs(parse_instant(body["now"]) - datetime.now(UTC)) < timedelta(seconds=5)


def test_freeze_then_advance(client: TestClient) -> None:
    with_test_routes(client)
    frozen = client.put(
        "/__admin/tenants/default/clock", json={"now": "2030-01-01T00:00:00Z", "frozen": True}
    )
    assert frozen.status_code == 200
    assert frozen.json()["now"] == "2030-01-01T00:00:00Z"
    headers = DEFAULT_CREDENTIALS["talonone"]
    assert service_now(client, headers) == datetime(2030, 1, 1, tzinfo=UTC)
    assert service_now(client, headers) == datetime(2030, 1, 1, tzinfo=UTC)  # still frozen
    advanced = client.post("/__admin/tenants/default/clock/advance", json={"days": 1, "hours": 2})
    assert advanced.json()["now"] == "2030-01-02T02:00:00Z"
    assert service_now(client, headers) == datetime(2030, 1, 2, 2, tzinfo=UTC)


def test_set_without_freezing_keeps_running_from_the_new_instant(client: TestClient) -> None:
    client.put("/__admin/tenants/default/clock", json={"now": "2031-06-01T12:00:00Z"})
    body = client.get("/__admin/tenants/default/clock").json()
    assert body["frozen"] is False
    now = parse_instant(body["now"])
    assert datetime(2031, 6, 1, 12, tzinfo=UTC) <= now < datetime(2031, 6, 1, 12, 1, tzinfo=UTC)
    client.post("/__admin/tenants/default/clock/advance", json={"minutes": 30})
    later = parse_instant(client.get("/__admin/tenants/default/clock").json()["now"])
    assert later - now >= timedelta(minutes=30)


def test_clock_is_per_tenant(client: TestClient, new_tenant) -> None:
    other = new_tenant()
    client.put(
        "/__admin/tenants/default/clock", json={"now": "2030-01-01T00:00:00Z", "frozen": True}
    )
    body = client.get(f"/__admin/tenants/{other['id']}/clock").json()
    assert body["frozen"] is False
    assert abs(parse_instant(body["now"]) - datetime.now(UTC)) < timedelta(seconds=5)


def test_clock_refuses_going_backwards_and_bad_input(client: TestClient) -> None:
    assert (
        client.post("/__admin/tenants/default/clock/advance", json={"seconds": -5}).status_code
        == 400
    )
    assert (
        client.put("/__admin/tenants/default/clock", json={"now": "yesterday"}).status_code == 400
    )
    assert client.put("/__admin/tenants/nobody/clock", json={"frozen": True}).status_code == 404


def test_reset_restores_the_fixture_clock(client: TestClient, new_tenant) -> None:
    document = {"clock": {"now": "2029-05-05T05:05:05Z", "frozen": True}}
    tenant = new_tenant(fixtures=document)
    path = f"/__admin/tenants/{tenant['id']}/clock"
    assert client.get(path).json()["now"] == "2029-05-05T05:05:05Z"
    client.post(path + "/advance", json={"days": 3})
    assert client.get(path).json()["now"] == "2029-05-08T05:05:05Z"
    assert client.post(f"/__admin/tenants/{tenant['id']}/reset").status_code == 200
    assert client.get(path).json()["now"] == "2029-05-05T05:05:05Z"
