"""Best prior price: catalog syncs on the tenant clock build each SKU's price history, and
`POST /v1/best_prior_price` answers the lowest price over the look-back window, as the end-date
type chooses; bad requests get Talon.One's 400; the history round-trips through the export."""

from __future__ import annotations

from typing import Any

import pytest

FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T00:00:00Z", "frozen": True},
    "talonone": {
        "catalogs": [
            {
                "id": 1,
                "name": "Shop",
                "created": "2029-12-01T00:00:00Z",
                "modified": "2029-12-01T00:00:00Z",
                "items": [{"sku": "SHOE", "price": 100}, {"sku": "HAT", "price": 20}],
            }
        ],
        "priceHistory": [
            {"sku": "HAT", "price": 30, "observedAt": "2029-11-01T00:00:00Z"},
            {
                "sku": "HAT",
                "price": 20,
                "observedAt": "2029-12-01T00:00:00Z",
                "contextIds": ["Winter"],
            },
        ],
    },
}


@pytest.fixture
def tenant(new_tenant) -> dict:
    return new_tenant(FIXTURES)


@pytest.fixture
def headers(tenant) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def set_price(client, tenant, headers, days: float, sku: str, price: float) -> None:
    moved = client.post(f"/__admin/tenants/{tenant['id']}/clock/advance", json={"days": days})
    assert moved.status_code == 200
    response = client.put(
        "/v1/catalogs/1/sync",
        headers=headers,
        json={"actions": [{"type": "PATCH", "payload": {"sku": sku, "price": price}}]},
    )
    assert response.status_code == 200, response.text


def ask(client, headers, end: str, days: str = "30", end_type: str = "strict", **extra: Any):
    body = {
        "skus": ["SHOE", "HAT", "NOPE"],
        "timeframeEndDate": end,
        "timeframe": days,
        "timeframeEndDateType": end_type,
        **extra,
    }
    return client.post("/v1/best_prior_price", headers=headers, json=body)


def prices(response) -> dict[str, float]:
    assert response.status_code == 200, response.text
    return {entry["sku"]: entry["price"] for entry in response.json()}


def test_the_lowest_price_in_the_window_from_syncs_on_the_tenant_clock(
    client, tenant, headers
) -> None:
    set_price(client, tenant, headers, 1, "SHOE", 80)  # 2030-01-02: sale
    set_price(client, tenant, headers, 10, "SHOE", 120)  # 2030-01-12: up
    response = ask(client, headers, "2030-01-20T00:00:00Z")
    assert prices(response) == {"SHOE": 80, "HAT": 20}
    [shoe] = [entry for entry in response.json() if entry["sku"] == "SHOE"]
    assert shoe["observedAt"] == "2030-01-02T00:00:00Z"
    assert shoe["target"] == {"type": "NONE"} and shoe["contextIds"] == []
    # Before the sale the lowest was the fixture's price; a window after the sale has passed
    # holds only the new price (the one in effect at its start counts).
    assert prices(ask(client, headers, "2030-01-01T12:00:00Z"))["SHOE"] == 100
    assert prices(ask(client, headers, "2030-03-01T00:00:00Z", days="10"))["SHOE"] == 120
    # `price`: the window ends where the current price started, so that price is left out.
    assert prices(ask(client, headers, "2030-01-20T00:00:00Z", end_type="price"))["SHOE"] == 80
    # Before anything was observed there is no price at all.
    assert prices(ask(client, headers, "2029-01-01T00:00:00Z")) == {}


def test_price_and_sale_end_types_leave_the_current_price_out(client, headers) -> None:
    # HAT: 30 since November, 20 (Winter sale) since December.
    assert prices(ask(client, headers, "2030-01-01T00:00:00Z", days="60"))["HAT"] == 20
    assert prices(ask(client, headers, "2030-01-01T00:00:00Z", end_type="price"))["HAT"] == 30
    assert prices(ask(client, headers, "2030-01-01T00:00:00Z", end_type="sale"))["HAT"] == 30


def test_an_audience_target_reads_that_audience_s_prices(client, headers) -> None:
    target = {"targetType": "AUDIENCE", "audienceID": 4}
    assert prices(ask(client, headers, "2030-01-01T00:00:00Z", target=target)) == {}
    none = {"targetType": "NONE"}
    assert prices(ask(client, headers, "2030-01-01T00:00:00Z", target=none))["SHOE"] == 100


@pytest.mark.parametrize(
    "change",
    [
        {"skus": []},
        {"skus": "SHOE"},
        {"skus": [""]},
        {"timeframeEndDate": "yesterday"},
        {"timeframe": "thirty"},
        {"timeframe": 30},
        {"timeframe": "0"},
        {"timeframeEndDateType": "loose"},
        {"target": {"targetType": "AUDIENCE"}},
        {"target": {"targetType": "SOME"}},
        {"other": 1},
        {"timeframeEndDateType": None},
        {"strictEndDate": "yes"},
    ],
)
def test_bad_requests_are_refused(client, headers, change) -> None:
    body = {
        "skus": ["SHOE"],
        "timeframeEndDate": "2030-01-01T00:00:00Z",
        "timeframe": "30",
        "timeframeEndDateType": "strict",
        **change,
    }
    response = client.post("/v1/best_prior_price", headers=headers, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["StatusCode"] == 400


def test_sdk_26_strict_end_date_chooses_the_end_type(client, headers) -> None:
    """SDK 26.2 sends `strictEndDate` instead of the document's `timeframeEndDateType`."""
    body = {"skus": ["HAT"], "timeframeEndDate": "2030-01-01T00:00:00Z", "timeframe": "30"}
    for strict, price in ((True, 20), (False, 30)):
        response = client.post(
            "/v1/best_prior_price", headers=headers, json={**body, "strictEndDate": strict}
        )
        assert prices(response) == {"HAT": price}
    missing = client.post("/v1/best_prior_price", headers=headers, json=body)
    assert missing.status_code == 400


def test_missing_fields_and_non_json_are_refused(client, headers) -> None:
    for body in ({"skus": ["SHOE"]}, [1]):
        response = client.post("/v1/best_prior_price", headers=headers, json=body)
        assert response.status_code == 400, response.text
    raw = client.post("/v1/best_prior_price", headers=headers, content=b"{nope")
    assert raw.status_code == 400


def test_the_history_round_trips_and_is_inspectable(client, tenant, headers, new_tenant) -> None:
    set_price(client, tenant, headers, 1, "SHOE", 80)
    inspected = client.get(
        f"/__admin/tenants/{tenant['id']}/talonone/price_history", params={"sku": "SHOE"}
    )
    assert inspected.status_code == 200
    assert [(o["price"], o["observedAt"]) for o in inspected.json()["priceHistory"]] == [
        (100, "2029-12-01T00:00:00Z"),
        (80, "2030-01-02T00:00:00Z"),
    ]
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()
    copy = new_tenant(exported)
    again = client.get(f"/__admin/tenants/{copy['id']}/fixtures").json()
    assert again["talonone"]["priceHistory"] == exported["talonone"]["priceHistory"]
    copy_headers = {"Authorization": f"ApiKey-v1 {copy['credentials']['talonone']['api_key']}"}
    end = "2030-01-20T00:00:00Z"
    assert prices(ask(client, copy_headers, end)) == prices(ask(client, headers, end))
