"""The tenant clock: freeze, set, advance; services read it; tenants do not share it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

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


# --- hostile clocks: refused with 400 naming the field, nothing stored, nothing broken --------


def clock_of(client: TestClient, tenant_id: str = "default") -> dict:
    response = client.get(f"/__admin/tenants/{tenant_id}/clock")
    assert response.status_code == 200, response.text
    return response.json()


def api_calls_answer(client: TestClient) -> None:
    """The tenant's calls on the APIs that read its clock, and the tenant list, still answer."""
    talon = DEFAULT_CREDENTIALS["talonone"]
    session = client.put(
        "/v2/customer_sessions/clock-probe",
        headers=talon,
        json={"customerSession": {"profileId": "customer-1", "cartItems": []}},
    )
    assert session.status_code == 200, session.text
    ecdp = client.post(
        "/customers",
        headers=DEFAULT_CREDENTIALS["ecdp"],
        json={"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": "clk@example.com"}]},
    )
    assert ecdp.status_code in (200, 201), ecdp.text
    fields = {**DEFAULT_CREDENTIALS["clienttoolbox"], "type": "campaigns_list", "output": "JSON"}
    assert client.post("/api.php", data=fields).status_code == 200
    listed = client.get("/__admin/tenants")
    assert listed.status_code == 200, listed.text
    assert "default" in [t["id"] for t in listed.json()["tenants"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"days": 3000000}', "days"),
        ('{"seconds": 1e400}', "seconds"),
        ('{"hours": Infinity}', "hours"),
        ('{"minutes": NaN}', "minutes"),
        ('{"days": 1e308, "hours": 1e308}', "days"),
    ],
)
def test_advance_out_of_range_is_refused_and_stores_nothing(
    client: TestClient, body: str, field: str
) -> None:
    before = clock_of(client)
    response = client.post(
        "/__admin/tenants/default/clock/advance",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
    after = clock_of(client)
    assert after["frozen"] == before["frozen"]
    assert after["offsetSeconds"] == before["offsetSeconds"]
    api_calls_answer(client)


@pytest.mark.parametrize(
    "now",
    [
        "9999-12-31T23:59:59Z",
        "9000-01-01T00:00:01Z",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize("frozen", [True, False])
def test_set_out_of_range_is_refused_and_stores_nothing(
    client: TestClient, now: str, frozen: bool
) -> None:
    before = clock_of(client)
    response = client.put("/__admin/tenants/default/clock", json={"now": now, "frozen": frozen})
    assert response.status_code == 400, response.text
    assert "now" in response.json()["error"]
    assert clock_of(client)["offsetSeconds"] == before["offsetSeconds"]
    api_calls_answer(client)


def test_the_range_bounds_themselves_are_accepted(client: TestClient) -> None:
    for now in ("1970-01-01T00:00:00Z", "9000-01-01T00:00:00Z"):
        response = client.put("/__admin/tenants/default/clock", json={"now": now, "frozen": True})
        assert response.status_code == 200, response.text
        assert response.json()["now"] == now
        api_calls_answer(client)


def test_advance_past_the_range_from_a_late_instant_is_refused(client: TestClient) -> None:
    client.put(
        "/__admin/tenants/default/clock", json={"now": "8999-12-31T00:00:00Z", "frozen": True}
    )
    response = client.post("/__admin/tenants/default/clock/advance", json={"days": 2})
    assert response.status_code == 400, response.text
    assert "days" in response.json()["error"]
    assert clock_of(client)["now"] == "8999-12-31T00:00:00Z"
    assert (
        client.post("/__admin/tenants/default/clock/advance", json={"hours": 24}).json()["now"]
        == "9000-01-01T00:00:00Z"
    )


def test_a_running_clock_never_walks_past_the_range(client: TestClient) -> None:
    """A running clock set at the last instant stops there rather than leaving the range."""
    response = client.put(
        "/__admin/tenants/default/clock", json={"now": "9000-01-01T00:00:00Z", "frozen": False}
    )
    assert response.status_code == 200, response.text
    time.sleep(1.1)
    assert clock_of(client)["now"] == "9000-01-01T00:00:00Z"
    api_calls_answer(client)
    exported = client.get("/__admin/tenants/default/fixtures").json()
    copy = client.post("/__admin/tenants", json={"fixtures": exported})
    assert copy.status_code == 201, copy.text
    assert clock_of(client, copy.json()["id"])["now"] == "9000-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("offset", "frozen_at"),
    [(1e300, None), (float("inf"), None), (-1e300, None), (0.0, "9999-12-31 23:59:59.000000")],
)
def test_a_stored_clock_out_of_range_breaks_nothing(
    client: TestClient, new_tenant, offset: float, frozen_at: str | None
) -> None:
    """A clock stored out of range (by an older version, by hand) reads at the range's bound:
    its tenant's calls and the tenant list still answer."""
    other = new_tenant()
    engine = client.app.state.engine
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE tenant SET clock_offset_seconds = :offset, clock_frozen = :frozen,"
                " clock_frozen_at = :at WHERE id = 'default'"
            ),
            {"offset": offset, "frozen": frozen_at is not None, "at": frozen_at},
        )
    api_calls_answer(client)
    now = parse_instant(clock_of(client)["now"])
    assert now in (datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))
    assert client.get(f"/__admin/tenants/{other['id']}").status_code == 200
    # Setting it again brings it back.
    response = client.put("/__admin/tenants/default/clock", json={"now": "2030-01-01T00:00:00Z"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("clock", "path"),
    [
        ({"now": "9999-12-31T23:59:59Z"}, "clock.now"),
        ({"now": "1960-01-01T00:00:00Z", "frozen": True}, "clock.now"),
        ({"offsetSeconds": 1e300}, "clock.offsetSeconds"),
        ({"offsetSeconds": -1e11}, "clock.offsetSeconds"),
    ],
)
def test_fixture_clocks_out_of_range_are_refused(
    client: TestClient, clock: dict, path: str
) -> None:
    count = len(client.get("/__admin/tenants").json()["tenants"])
    response = client.post("/__admin/tenants", json={"fixtures": {"clock": clock}})
    assert response.status_code == 400, response.text
    assert response.json()["path"].startswith(path)
    assert len(client.get("/__admin/tenants").json()["tenants"]) == count


def test_fixture_clock_offset_infinity_is_refused(client: TestClient) -> None:
    response = client.post(
        "/__admin/tenants",
        content='{"fixtures": {"clock": {"offsetSeconds": Infinity}}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "offsetSeconds" in response.text
