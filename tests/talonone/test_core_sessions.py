"""UpdateCustomerSessionV2, GetCustomerSession, ReopenCustomerSession, ReturnCartItems over HTTP."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.talonone.service.sessions.request import check_cart_item_scalars, plain_cart_item
from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]
ALL = ["customerSession", "customerProfile", "triggeredCampaigns", "ruleFailureReasons", "event"]


def put_session(client, session_id, session, params=None, content=ALL, headers=AUTH):
    body = {"customerSession": session}
    if content is not None:
        body["responseContent"] = content
    return client.put(
        f"/v2/customer_sessions/{session_id}", json=body, params=params or {}, headers=headers
    )


def effect_types(body):
    return [e["effectType"] for e in body["effects"]]


def assert_error(response, status, pointer=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["StatusCode"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"] and all("title" in e and "source" in e for e in body["errors"])
    if pointer is not None:
        assert body["errors"][0]["source"].get("pointer") == pointer, body
    return body


CART = [
    {"sku": "SKU-SHOE-1", "quantity": 2},
    {"sku": "SKU-SHIRT-1", "quantity": 1, "price": 30, "attributes": {"Color": "red"}},
]


def test_new_session_computes_totals_and_effects(client):
    response = put_session(
        client,
        "s-1",
        {
            "profileId": "new-customer",
            "cartItems": CART,
            "additionalCosts": {"shipping": {"price": 4.5}},
            "attributes": {"Channel": "web"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    session = body["customerSession"]
    assert session["state"] == "open"
    assert session["updateCount"] == 1
    assert session["firstSession"] is True
    assert session["cartItemTotal"] == 190  # 2 x 80 (catalog price) + 30
    assert session["additionalCostTotal"] == 4.5
    assert session["total"] == 194.5
    assert [i["position"] for i in session["cartItems"]] == [0, 1]
    assert session["cartItems"][0]["price"] == 80
    assert isinstance(session["cartItems"][0]["catalogItemID"], int)
    assert body["createdCoupons"] == [] and body["createdReferrals"] == []
    assert effect_types(body) == ["setDiscount", "setDiscountPerItem", "addLoyaltyPoints"]
    discount = body["effects"][0]
    assert discount["campaignId"] == 1 and discount["props"] == {"name": "10% off", "value": 19}
    per_item = body["effects"][1]["props"]
    assert per_item["position"] == 0 and per_item["value"] == 32
    assert {c["id"] for c in body["triggeredCampaigns"]} == {1, 2, 3}
    assert body["customerProfile"]["integrationId"] == "new-customer"
    assert body["event"]["type"] == "talon_session_created"


def test_updates_build_on_each_other_and_count(client):
    put_session(client, "s-2", {"profileId": "customer-1", "cartItems": CART})
    response = put_session(client, "s-2", {"attributes": {"Channel": "app"}})
    session = response.json()["customerSession"]
    assert session["updateCount"] == 2
    assert len(session["cartItems"]) == 2  # omitted keys are kept
    assert session["attributes"] == {"Channel": "app"}
    response = put_session(client, "s-2", {"cartItems": []})
    assert response.json()["customerSession"]["cartItemTotal"] == 0
    assert response.json()["effects"] == []
    read = client.get("/v2/customer_sessions/s-2", headers=AUTH)
    assert read.status_code == 200
    assert read.json()["customerSession"]["updateCount"] == 3
    assert read.json()["effects"] == []


def test_dry_run_evaluates_without_persisting(client):
    response = put_session(client, "s-dry", {"cartItems": CART}, params={"dry": "true"})
    assert response.status_code == 200
    assert "setDiscount" in effect_types(response.json())
    assert client.get("/v2/customer_sessions/s-dry", headers=AUTH).status_code == 404


def test_now_needs_dry_and_a_future_instant(client):
    response = put_session(client, "s-now", {}, params={"now": "2099-01-01T00:00:00Z"})
    assert_error(response, 400)
    assert response.json()["errors"][0]["source"] == {"parameter": "now"}
    past = put_session(client, "s-now", {}, params={"dry": "true", "now": "2001-01-01T00:00:00Z"})
    assert_error(past, 400)
    future = put_session(
        client, "s-now", {}, params={"dry": "true", "now": "2099-01-01T00:00:00.000000+0000"}
    )
    assert future.status_code == 200, future.text


def test_first_session_only_for_the_first_session_of_a_profile(client):
    first = put_session(client, "fs-1", {"profileId": "fresh"}).json()["customerSession"]
    second = put_session(client, "fs-2", {"profileId": "fresh"}).json()["customerSession"]
    anonymous = put_session(client, "fs-3", {}).json()["customerSession"]
    assert first["firstSession"] is True
    assert second["firstSession"] is False
    assert anonymous["firstSession"] is True and anonymous["profileId"] == ""


def test_an_update_naming_another_profile_moves_the_session_to_it(client):
    """The session and the profile an update names are read together; a profile named by a
    later update is the one the session answers with (created when unknown)."""
    put_session(client, "moving", {"profileId": "first-owner"})
    moved = put_session(client, "moving", {"profileId": "second-owner"}).json()
    assert moved["customerSession"]["profileId"] == "second-owner"
    assert moved["customerSession"]["firstSession"] is True  # as when it was created
    assert moved["customerProfile"]["integrationId"] == "second-owner"
    again = put_session(client, "moving", {"cartItems": CART}).json()
    assert again["customerProfile"]["integrationId"] == "second-owner"


def test_close_counts_in_profile_and_cancel_rolls_back(client):
    put_session(client, "s-3", {"profileId": "customer-2", "cartItems": CART})
    closed = put_session(client, "s-3", {"state": "closed"}).json()
    assert closed["customerSession"]["state"] == "closed"
    assert closed["customerProfile"]["closedSessions"] == 1
    assert closed["customerProfile"]["totalSales"] == 190
    cancelled = put_session(client, "s-3", {"state": "cancelled"}).json()
    assert cancelled["customerSession"]["state"] == "cancelled"
    types = effect_types(cancelled)
    assert types.count("rollbackDiscount") == 2
    assert cancelled["customerProfile"]["closedSessions"] == 0
    assert cancelled["customerProfile"]["totalSales"] == 0
    read = client.get("/v2/customer_sessions/s-3", headers=AUTH).json()
    assert read["effects"] == []


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("closed", "open"),
        ("cancelled", "open"),
        ("cancelled", "closed"),
        ("open", "partially_returned"),
    ],
)
def test_illegal_transitions_are_400_naming_them(client, start, target):
    put_session(client, "t-1", {"state": "open"})
    if start != "open":
        put_session(client, "t-1", {"state": start})
    response = put_session(client, "t-1", {"state": target})
    body = assert_error(response, 400, "/customerSession/state")
    assert start in body["errors"][0]["details"] and target in body["errors"][0]["details"]


def test_new_session_cannot_start_cancelled(client):
    assert_error(put_session(client, "t-2", {"state": "cancelled"}), 400, "/customerSession/state")
    assert client.get("/v2/customer_sessions/t-2", headers=AUTH).status_code == 404


def test_closed_session_repeat_is_idempotent_but_changes_are_refused(client):
    put_session(client, "t-3", {"state": "closed", "cartItems": CART})
    again = put_session(client, "t-3", {"state": "closed"})
    assert again.status_code == 200
    assert again.json()["customerSession"]["updateCount"] == 1
    change = put_session(client, "t-3", {"state": "closed", "attributes": {"Channel": "x"}})
    assert_error(change, 400, "/customerSession")


@pytest.mark.parametrize(
    ("session", "pointer"),
    [
        ({"state": "weird"}, "/customerSession/state"),
        ({"profileId": 12}, "/customerSession/profileId"),
        ({"cartItems": [{"sku": "A"}]}, "/customerSession/cartItems/0/quantity"),
        ({"cartItems": [{"sku": "A", "quantity": 0}]}, "/customerSession/cartItems/0/quantity"),
        ({"cartItems": [{"sku": "A", "quantity": "1"}]}, "/customerSession/cartItems/0/quantity"),
        ({"cartItems": [{"sku": "", "quantity": 1}]}, "/customerSession/cartItems/0/sku"),
        (
            {"cartItems": [{"sku": "A", "quantity": 1, "price": "9"}]},
            "/customerSession/cartItems/0/price",
        ),
        ({"cartItems": [{"sku": "A", "quantity": True}]}, "/customerSession/cartItems/0/quantity"),
        (  # beyond the real API's int64
            {"cartItems": [{"sku": "A", "quantity": 10**30}]},
            "/customerSession/cartItems/0/quantity",
        ),
        (
            {"cartItems": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1, "price": -1}]},
            "/customerSession/cartItems/1/price",
        ),
        (
            {"cartItems": [{"sku": "A", "quantity": 1, "weight": False}]},
            "/customerSession/cartItems/0/weight",
        ),
        (
            {"cartItems": [{"sku": "A", "quantity": 1, "name": 5}]},
            "/customerSession/cartItems/0/name",
        ),
        ({"cartItems": [{"sku": 7, "quantity": 1}]}, "/customerSession/cartItems/0/sku"),
        (
            {"cartItems": [{"sku": "A", "quantity": 1, "colour": "red"}]},
            "/customerSession/cartItems/0/colour",
        ),
        ({"cartItems": ["SKU-1"]}, "/customerSession/cartItems/0"),
        ({"attributes": {"Unknown": 1}}, "/customerSession/attributes/Unknown"),
        ({"attributes": {"GiftWrap": "yes"}}, "/customerSession/attributes/GiftWrap"),
        ({"couponCodes": ["x" * 101]}, "/customerSession/couponCodes/0"),
        ({"loyaltyCards": ["CARD-1", "CARD-2"]}, "/customerSession/loyaltyCards"),
        ({"identifiers": ["a", "b", "c", "d", "e", "f"]}, "/customerSession/identifiers"),
        ({"additionalCosts": {"shipping": {}}}, "/customerSession/additionalCosts/shipping/price"),
        ({"bogus": 1}, "/customerSession/bogus"),
    ],
)
def test_bad_session_payloads_are_400_with_a_pointer(client, session, pointer):
    response = put_session(client, "bad-1", session)
    assert_error(response, 400, pointer)
    assert client.get("/v2/customer_sessions/bad-1", headers=AUTH).status_code == 404


def test_unknown_attribute_uses_the_documented_error_shape(client):
    body = put_session(client, "bad-2", {"attributes": {"MyAttribute": "x"}}).json()
    assert body["errors"][0]["title"] == "Unknown"
    assert "is not defined on CustomerSession entities" in body["errors"][0]["details"]


def test_bad_body_and_query(client):
    raw = client.put("/v2/customer_sessions/x", content=b"{nope", headers=AUTH)
    assert_error(raw, 400)
    missing = client.put("/v2/customer_sessions/x", json={}, headers=AUTH)
    assert_error(missing, 400, "/customerSession")
    content = client.put(
        "/v2/customer_sessions/x",
        json={"customerSession": {}, "responseContent": ["nope"]},
        headers=AUTH,
    )
    assert_error(content, 400, "/responseContent/0")
    dry = put_session(client, "x", {}, params={"dry": "maybe"})
    assert_error(dry, 400)


def test_unauthenticated_is_401_in_talon_shape(client):
    response = put_session(client, "x", {}, headers={"Authorization": "ApiKey-v1 wrong"})
    assert_error(response, 401)


def test_get_unknown_session_is_404(client):
    assert_error(client.get("/v2/customer_sessions/none", headers=AUTH), 404)


def test_reopen_returns_rollbacks_and_reopens(client):
    put_session(client, "r-1", {"profileId": "customer-2", "cartItems": CART, "state": "closed"})
    response = client.put("/v2/customer_sessions/r-1/reopen", headers=AUTH)
    assert response.status_code == 200, response.text
    types = effect_types(response.json())
    assert "rollbackDiscount" in types and "rollbackAddedLoyaltyPoints" in types
    read = client.get("/v2/customer_sessions/r-1", headers=AUTH).json()
    assert read["customerSession"]["state"] == "open"
    assert_error(client.put("/v2/customer_sessions/r-1/reopen", headers=AUTH), 400)
    profile = put_session(client, "r-1", {"state": "open"}).json()["customerProfile"]
    assert profile["closedSessions"] == 0 and profile["totalSales"] == 0
    closed = put_session(client, "r-1", {"state": "closed"}).json()
    assert closed["customerProfile"]["closedSessions"] == 1


def test_reopen_unknown_session_is_404(client):
    assert_error(client.put("/v2/customer_sessions/none/reopen", headers=AUTH), 404)


def returns(client, session_id, items, headers=None, params=None, content=None):
    body = {"return": {"returnedCartItems": items}}
    if content:
        body["responseContent"] = content
    return client.post(
        f"/v2/customer_sessions/{session_id}/returns",
        json=body,
        headers={**AUTH, **(headers or {})},
        params=params or {},
    )


def test_return_rolls_back_the_share_of_the_returned_units(client):
    put_session(client, "ret-1", {"profileId": "customer-2", "cartItems": CART, "state": "closed"})
    content = ["customerSession", "customerProfile", "event"]
    response = returns(client, "ret-1", [{"position": 0, "quantity": 1}], content=content)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customerSession"]["state"] == "partially_returned"
    item = body["customerSession"]["cartItems"][0]
    assert item["returnedQuantity"] == 1 and item["remainingQuantity"] == 1
    rollbacks = {
        e["props"]["name"]: e["props"]["value"]
        for e in body["effects"]
        if e["effectType"] == "rollbackDiscount"
    }
    assert rollbacks == {"Shoes 20%#0": 16, "10% off": 8}  # half the shoe line; 80/190 of 19
    assert body["return"]["returnedCartItems"] == [
        {"position": 0, "quantity": 1, "sku": "SKU-SHOE-1"}
    ]
    assert body["return"]["sessionIntegrationId"] == "ret-1"
    assert body["customerProfile"]["totalSales"] == 110
    remaining = client.get("/v2/customer_sessions/ret-1", headers=AUTH).json()["effects"]
    assert {e["props"]["name"]: e["props"]["value"] for e in remaining if "name" in e["props"]}[
        "10% off"
    ] == 11
    second = returns(client, "ret-1", [{"sku": "SKU-SHIRT-1"}], content=["previousReturns"])
    assert second.status_code == 200
    assert len(second.json()["previousReturns"]) == 2


@pytest.mark.parametrize(
    ("items", "pointer"),
    [
        ([{"position": 5}], "/return/returnedCartItems/0/position"),
        ([{"position": 0, "quantity": 3}], "/return/returnedCartItems/0/quantity"),
        ([{"position": 0, "quantity": 0}], "/return/returnedCartItems/0/quantity"),
        ([{"sku": "NOPE"}], "/return/returnedCartItems/0/sku"),
        ([{"quantity": 1}], "/return/returnedCartItems/0/position"),
        ([{"position": "0"}], "/return/returnedCartItems/0/position"),
        ([], "/return/returnedCartItems"),
    ],
)
def test_bad_returns_are_400_and_write_nothing(client, items, pointer):
    put_session(client, "ret-2", {"cartItems": CART, "state": "closed"})
    assert_error(returns(client, "ret-2", items), 400, pointer)
    read = client.get("/v2/customer_sessions/ret-2", headers=AUTH).json()
    assert read["customerSession"]["state"] == "closed"


def test_returns_need_a_closed_session(client):
    put_session(client, "ret-3", {"cartItems": CART})
    assert_error(returns(client, "ret-3", [{"position": 0}]), 400)
    assert_error(returns(client, "none", [{"position": 0}]), 404)


def test_return_with_idempotency_key_is_replayed(client):
    put_session(client, "ret-4", {"cartItems": CART, "state": "closed"})
    key = {"Idempotency-Key": "3f8a7c1e-0000-4000-8000-000000000001"}
    first = returns(client, "ret-4", [{"position": 0, "quantity": 1}], headers=key)
    second = returns(client, "ret-4", [{"position": 0, "quantity": 1}], headers=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    read = client.get("/v2/customer_sessions/ret-4", headers=AUTH).json()
    assert read["customerSession"]["cartItems"][0]["returnedQuantity"] == 1


def test_idempotency_key_expires_after_24_hours_on_the_tenant_clock(client):
    put_session(client, "ret-5", {"cartItems": CART, "state": "closed"})
    key = {"Idempotency-Key": "k-5"}
    returns(client, "ret-5", [{"position": 0, "quantity": 1}], headers=key)
    advance = client.post("/__admin/tenants/default/clock/advance", json={"seconds": 86401})
    assert advance.status_code == 200, advance.text
    again = returns(client, "ret-5", [{"position": 0, "quantity": 1}], headers=key)
    assert again.status_code == 200
    read = client.get("/v2/customer_sessions/ret-5", headers=AUTH).json()
    assert read["customerSession"]["cartItems"][0]["returnedQuantity"] == 2


def test_dry_return_writes_nothing(client):
    put_session(client, "ret-6", {"cartItems": CART, "state": "closed"})
    response = returns(client, "ret-6", [{"position": 0}], params={"dry": "true"})
    assert response.status_code == 200
    assert response.json()["effects"]
    read = client.get("/v2/customer_sessions/ret-6", headers=AUTH).json()
    assert read["customerSession"]["state"] == "closed"


def test_partially_returned_can_be_cancelled_then_is_terminal(client):
    put_session(client, "ret-7", {"cartItems": CART, "state": "closed"})
    returns(client, "ret-7", [{"position": 1}])
    cancelled = put_session(client, "ret-7", {"state": "cancelled"})
    assert cancelled.status_code == 200
    assert cancelled.json()["customerSession"]["state"] == "cancelled"
    assert_error(returns(client, "ret-7", [{"position": 0}]), 400)
    assert_error(put_session(client, "ret-7", {"state": "open"}), 400)


def test_sessions_are_isolated_between_tenants(client, new_tenant):
    put_session(client, "iso-1", {"cartItems": CART})
    other = new_tenant()
    headers = {"Authorization": f"ApiKey-v1 {other['credentials']['talonone']['api_key']}"}
    assert client.get("/v2/customer_sessions/iso-1", headers=headers).status_code == 404


def test_idempotency_key_longer_than_255_is_400(client):
    put_session(client, "ret-8", {"cartItems": CART, "state": "closed"})
    response = returns(client, "ret-8", [{"position": 0}], headers={"Idempotency-Key": "k" * 256})
    body = assert_error(response, 400)
    assert body["errors"][0]["source"] == {"parameter": "Idempotency-Key"}


def test_non_json_numbers_and_long_ids_are_400(client):
    raw = b'{"customerSession": {"cartItems": [{"sku": "A", "quantity": 1, "price": NaN}]}}'
    assert_error(client.put("/v2/customer_sessions/nan", content=raw, headers=AUTH), 400)
    huge = raw.replace(b"NaN", b"1e400")  # read by the standard library: infinite, refused
    response = client.put("/v2/customer_sessions/huge", content=huge, headers=AUTH)
    assert_error(response, 400, "/customerSession/cartItems/0/price")
    deep = b"[" * 100000 + b"]" * 100000
    assert_error(client.put("/v2/customer_sessions/deep", content=deep, headers=AUTH), 400)
    response = put_session(client, "s" * 1001, {})
    assert response.json()["errors"][0]["source"] == {"parameter": "customerSessionId"}
    assert_error(response, 400)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["sku", "quantity", "price", "weight", "name", "category", "colour"]),
        SCALARS,
    )
)
def test_the_quick_cart_item_check_passes_only_what_the_full_check_passes(item):
    """The hot path's pointer-free check never lets through an item the full check refuses."""
    if plain_cart_item(item):
        check_cart_item_scalars(item, "/customerSession/cartItems/0")


def test_get_answers_the_session_and_effects_the_update_answered(client):
    updated = put_session(client, "g-1", {"profileId": "customer-1", "cartItems": CART})
    assert updated.status_code == 200, updated.text
    read = client.get("/v2/customer_sessions/g-1", headers=AUTH)
    assert read.status_code == 200, read.text
    assert read.json()["customerSession"] == updated.json()["customerSession"]
    assert read.json()["effects"] == updated.json()["effects"] and read.json()["effects"]
    lower = {"Authorization": AUTH["Authorization"].replace("ApiKey-v1", "apikey-v1")}
    assert client.get("/v2/customer_sessions/g-1", headers=lower).json() == read.json()


@pytest.mark.parametrize(
    "authorization",
    ["ApiKey-v1 wrong", "ApiKey-v1", "Bearer talon-sandbox-key", "talon-sandbox-key", ""],
)
def test_get_of_a_stored_session_with_a_bad_key_is_401(client, authorization):
    assert put_session(client, "g-2", {"cartItems": CART}).status_code == 200
    response = client.get("/v2/customer_sessions/g-2", headers={"Authorization": authorization})
    assert_error(response, 401)
