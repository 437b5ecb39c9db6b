"""SyncCatalog, the rule engine (conditions, effects, codes) and the write-race guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.talonone.models.core import TalonConfig
from simulator.talonone.service import rules
from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]


def assert_error(response, status, pointer=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["StatusCode"] == status and body["message"]
    if pointer is not None:
        assert body["errors"][0]["source"].get("pointer") == pointer, body
    return body


def sync(client, actions, catalog_id=1, version=None, headers=AUTH):
    body = {"actions": actions}
    if version is not None:
        body["version"] = version
    return client.put(f"/v1/catalogs/{catalog_id}/sync", json=body, headers=headers)


def session(client, session_id, cart, **extra):
    body = {"customerSession": {"cartItems": cart, **extra}, "responseContent": ["customerSession"]}
    return client.put(f"/v2/customer_sessions/{session_id}", json=body, headers=AUTH)


def test_sync_add_patch_remove_and_version(client):
    added = sync(
        client,
        [
            {
                "type": "ADD",
                "payload": {"sku": "NEW-1", "price": 9, "attributes": {"category": "shoes"}},
            }
        ],
    )
    assert added.status_code == 200, added.text
    catalog = added.json()
    assert catalog["id"] == 1 and catalog["version"] == 2 and catalog["name"] == "Products"
    assert isinstance(catalog["createdBy"], int) and catalog["description"] == "The shop's products"
    cart = session(client, "c-1", [{"sku": "NEW-1", "quantity": 1}]).json()["customerSession"]
    assert cart["cartItems"][0]["price"] == 9
    patched = sync(client, [{"type": "PATCH", "payload": {"sku": "NEW-1", "price": 11}}], version=2)
    assert patched.json()["version"] == 3
    cart = session(client, "c-2", [{"sku": "NEW-1", "quantity": 1}]).json()["customerSession"]
    assert cart["cartItems"][0]["price"] == 11
    removed = sync(client, [{"type": "REMOVE", "payload": {"sku": "NEW-1"}}])
    assert removed.status_code == 200
    cart = session(client, "c-3", [{"sku": "NEW-1", "quantity": 1}]).json()["customerSession"]
    assert "price" not in cart["cartItems"][0] and "catalogItemID" not in cart["cartItems"][0]


def test_catalog_attributes_feed_rule_conditions(client):
    sync(
        client,
        [{"type": "PATCH", "payload": {"sku": "SKU-SOCK-1", "attributes": {"category": "shoes"}}}],
    )
    body = {"customerSession": {"cartItems": [{"sku": "SKU-SOCK-1", "quantity": 2}]}}
    effects = client.put("/v2/customer_sessions/c-4", json=body, headers=AUTH).json()["effects"]
    per_item = [e for e in effects if e["effectType"] == "setDiscountPerItem"]
    assert per_item and per_item[0]["props"]["value"] == 2  # 20% of 2 x 5


def test_add_existing_needs_replace_if_exists(client):
    action = {"type": "ADD", "payload": {"sku": "SKU-SOCK-1", "price": 6}}
    assert_error(sync(client, [action]), 400, "/actions/0/payload/sku")
    action["payload"]["replaceIfExists"] = True
    replaced = sync(client, [action])
    assert replaced.status_code == 200
    cart = session(client, "c-5", [{"sku": "SKU-SOCK-1", "quantity": 1}]).json()["customerSession"]
    assert cart["cartItems"][0]["price"] == 6


def test_patch_missing_needs_create_if_not_exists(client):
    action = {"type": "PATCH", "payload": {"sku": "GHOST", "price": 1}}
    assert_error(sync(client, [action]), 400, "/actions/0/payload/sku")
    action["payload"]["createIfNotExists"] = True
    assert sync(client, [action]).status_code == 200


def test_patch_many_and_remove_many_with_filters(client):
    patched = sync(
        client,
        [
            {
                "type": "PATCH_MANY",
                "payload": {
                    "filters": [{"attr": "brand", "op": "EQ", "value": "Acme"}],
                    "price": 1,
                },
            }
        ],
    )
    assert patched.status_code == 200
    cart = session(
        client, "c-6", [{"sku": "SKU-SHOE-1", "quantity": 1}, {"sku": "SKU-SHOE-2", "quantity": 1}]
    ).json()["customerSession"]
    assert [i["price"] for i in cart["cartItems"]] == [1, 120]
    removed = sync(
        client,
        [
            {
                "type": "REMOVE_MANY",
                "payload": {"filters": [{"attr": "price", "op": "GT", "value": 100}]},
            }
        ],
    )
    assert removed.status_code == 200
    cart = session(client, "c-7", [{"sku": "SKU-SHOE-2", "quantity": 1}]).json()["customerSession"]
    assert "price" not in cart["cartItems"][0]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/actions"),
        ({"actions": []}, "/actions"),
        ({"actions": [{"type": "FLY", "payload": {}}]}, "/actions/0/type"),
        ({"actions": [{"type": "ADD", "payload": {}}]}, "/actions/0/payload/sku"),
        (
            {"actions": [{"type": "ADD", "payload": {"sku": "a", "price": "1"}}]},
            "/actions/0/payload/price",
        ),
        (
            {
                "actions": [
                    {"type": "ADD", "payload": {"sku": "a"}},
                    {"type": "ADD", "payload": {"sku": "a"}},
                ]
            },
            "/actions/1/payload/sku",
        ),
        (
            {
                "actions": [
                    {"type": "ADD", "payload": {"sku": "a"}},
                    {"type": "REMOVE", "payload": {"sku": "b"}},
                ]
            },
            "/actions/1/type",
        ),
        (
            {
                "actions": [
                    {
                        "type": "PATCH_MANY",
                        "payload": {"filters": [{"attr": "x", "op": "GT", "value": "a"}]},
                    }
                ]
            },
            "/actions/0/payload/filters/0/value",
        ),
        ({"actions": [{"type": "REMOVE", "payload": {"sku": "a"}}], "version": 0}, "/version"),
        ({"actions": [{"type": "REMOVE", "payload": {"sku": "a"}}], "version": 7}, "/version"),
    ],
)
def test_bad_sync_is_400_and_changes_nothing(client, body, pointer):
    response = client.put("/v1/catalogs/1/sync", json=body, headers=AUTH)
    assert_error(response, 400, pointer)
    after = sync(client, [{"type": "REMOVE", "payload": {"sku": "SKU-SOCK-1"}}])
    assert after.json()["version"] == 2


def test_unknown_catalog_is_404_and_bad_id_400(client):
    assert_error(sync(client, [{"type": "REMOVE", "payload": {"sku": "a"}}], catalog_id=99), 404)
    response = client.put("/v1/catalogs/abc/sync", json={"actions": []}, headers=AUTH)
    assert_error(response, 400)


# --- codes (through the engagement part) -------------------------------------------------------


def effects_of(client, session_id, **fields):
    body = {"customerSession": fields}
    response = client.put(f"/v2/customer_sessions/{session_id}", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["effects"]


def by_type(effects, kind):
    return [e for e in effects if e["effectType"] == kind]


def test_valid_coupon_is_accepted_and_triggers_its_campaign(client):
    effects = effects_of(
        client, "k-1", couponCodes=["WELCOME-5"], cartItems=[{"sku": "SKU-SOCK-1", "quantity": 2}]
    )
    accepted = by_type(effects, "acceptCoupon")
    assert (
        accepted
        and accepted[0]["props"] == {"value": "WELCOME-5"}
        and accepted[0]["campaignId"] == 4
    )
    assert any(e["props"].get("name") == "Coupon 5 off" for e in by_type(effects, "setDiscount"))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("NO-SUCH-CODE", "CouponNotFound"),
        ("EXPIRED-5", "CouponExpired"),
        ("FUTURE-5", "CouponStartDateInFuture"),
        ("ADA-PERSONAL-5", "CouponRecipientDoesNotMatch"),
    ],
)
def test_invalid_coupons_are_rejected_with_the_reason(client, code, reason):
    effects = effects_of(client, "k-2", profileId="customer-2", couponCodes=[code])
    rejected = by_type(effects, "rejectCoupon")
    assert rejected and rejected[0]["props"] == {"value": code, "rejectionReason": reason}


def test_coupon_limit_is_reached_after_a_closed_session(client):
    first = effects_of(client, "k-3", couponCodes=["ONCE-ONLY-5"], state="closed")
    assert by_type(first, "acceptCoupon")
    second = effects_of(client, "k-4", couponCodes=["ONCE-ONLY-5"])
    assert by_type(second, "rejectCoupon")[0]["props"]["rejectionReason"] == "CouponLimitReached"
    cancelled = effects_of(client, "k-3", state="cancelled")
    assert by_type(cancelled, "rollbackCoupon")[0]["props"] == {"value": "ONCE-ONLY-5"}
    third = effects_of(client, "k-5", couponCodes=["ONCE-ONLY-5"])
    assert by_type(third, "acceptCoupon")


def test_referral_is_accepted_or_rejected(client):
    accepted = effects_of(client, "k-6", profileId="friend-1", referralCode="ADA-FRIENDS")
    assert by_type(accepted, "acceptReferral")[0]["props"] == {"value": "ADA-FRIENDS"}
    rejected = effects_of(client, "k-7", profileId="friend-1", referralCode="NOPE-NOPE")
    assert by_type(rejected, "rejectReferral")[0]["props"]["rejectionReason"] == "ReferralNotFound"


# --- conditions, directly ----------------------------------------------------------------------


def config_with(rule: dict) -> TalonConfig:
    campaign = {"id": 9, "name": "Test", "rulesetId": 9, "rules": [{"title": "r", **rule}]}
    return TalonConfig(tenant_id="t", campaigns=[campaign])


def fire(db, rule, **context) -> list[str]:
    ctx = rules.Context(tenant_id="t", now=datetime(2026, 1, 1, tzinfo=UTC), owner="o", **context)
    outcome = rules.evaluate(db, config_with(rule), ctx)
    return [e["effectType"] for e in outcome.effects]


NOTE = [{"showNotification": {"title": "hi"}}]
ITEM = {"sku": "A", "quantity": 3, "price": 10, "position": 0, "ruleAttributes": {"Color": "red"}}


@pytest.mark.parametrize(
    ("condition", "context", "fires"),
    [
        ({"cartTotal": {"gte": 100}}, {"cart_total": 100}, True),
        ({"cartTotal": {"gte": 100}}, {"cart_total": 99.99}, False),
        ({"itemSku": ["A", "B"]}, {"cart_items": [ITEM]}, True),
        ({"itemSku": "B"}, {"cart_items": [ITEM]}, False),
        ({"itemQuantity": {"sku": "A", "gte": 3}}, {"cart_items": [ITEM]}, True),
        ({"itemQuantity": {"gt": 3}}, {"cart_items": [ITEM]}, False),
        ({"itemAttribute": {"name": "Color", "in": ["red"]}}, {"cart_items": [ITEM]}, True),
        (
            {"sessionAttribute": {"name": "Channel", "eq": "web"}},
            {"session_attributes": {"Channel": "web"}},
            True,
        ),
        ({"profileAttribute": {"name": "Tier", "exists": True}}, {"profile_attributes": {}}, False),
        ({"event": "signup"}, {"event_type": "signup"}, True),
        ({"event": "signup"}, {"event_type": "talon_session_updated"}, False),
        ({"firstSession": True}, {"first_session": True}, True),
        ({"coupon": True}, {}, False),
        ({"audience": 1}, {"profile_id": ""}, False),
    ],
)
def test_conditions(client, condition, context, fires):
    from simulator.core.db import new_session

    with new_session(client.app.state.engine) as db:
        fired = fire(db, {"conditions": [condition], "effects": NOTE}, **context)
    assert (fired == ["showNotification"]) is fires


def test_discounts_never_exceed_the_cart(client):
    from simulator.core.db import new_session

    rule = {"conditions": [], "effects": [{"setDiscount": {"name": "big", "value": 500}}]}
    with new_session(client.app.state.engine) as db:
        ctx = rules.Context(
            tenant_id="t", now=datetime(2026, 1, 1, tzinfo=UTC), owner="o", cart_total=40
        )
        outcome = rules.evaluate(db, config_with(rule), ctx)
    assert outcome.effects[0]["props"]["value"] == 40


def test_a_lost_write_race_is_409(client):
    from simulator.core.db import new_session
    from simulator.talonone.errors import TalonOneError
    from simulator.talonone.models.core import TalonSession
    from simulator.talonone.service.sessions.store import get_session, save_session

    body = {"customerSession": {"cartItems": []}}
    client.put("/v2/customer_sessions/race", json=body, headers=AUTH)
    with new_session(client.app.state.engine) as db:
        stored = get_session(db, "default", "race")
        stale = TalonSession.model_validate(stored.model_dump())
        client.put("/v2/customer_sessions/race", json=body, headers=AUTH)  # someone else wins
        stale.update_count += 1
        with pytest.raises(TalonOneError) as raised:
            save_session(db, stale, stored)
    assert raised.value.status == 409


def catalog_price(client, session_id, sku):
    line = session(client, session_id, [{"sku": sku, "quantity": 1}]).json()["customerSession"]
    return line["cartItems"][0].get("price")


def test_a_catalog_change_by_another_process_is_seen_at_once(make_client):
    """Two apps on one store stand for two processes: each keeps what it read of the catalog,
    and a sync through either is seen by the other's next session update."""
    first, second = make_client(), make_client()
    before = catalog_price(first, "p-1", "SKU-SHOE-1")
    assert isinstance(before, int | float)
    assert catalog_price(first, "p-2", "LATER-1") is None  # known to be missing
    patched = sync(second, [{"type": "PATCH", "payload": {"sku": "SKU-SHOE-1", "price": 77}}])
    assert patched.status_code == 200, patched.text
    assert catalog_price(first, "p-3", "SKU-SHOE-1") == 77
    added = sync(second, [{"type": "ADD", "payload": {"sku": "LATER-1", "price": 5}}])
    assert added.status_code == 200, added.text
    assert catalog_price(first, "p-4", "LATER-1") == 5
    assert catalog_price(second, "p-5", "LATER-1") == 5


def test_a_failed_sync_leaves_what_processes_keep_valid(make_client):
    first, second = make_client(), make_client()
    before = catalog_price(first, "f-1", "SKU-SHOE-1")
    refused = sync(second, [{"type": "PATCH", "payload": {"sku": "NOT-THERE", "price": 1}}])
    assert_error(refused, 400, "/actions/0/payload/sku")
    assert catalog_price(first, "f-2", "SKU-SHOE-1") == before


def test_reset_brings_back_the_fixture_catalog_after_a_change_was_read(make_client):
    first, second = make_client(), make_client()
    before = catalog_price(first, "r-1", "SKU-SHOE-1")
    assert sync(
        first, [{"type": "PATCH", "payload": {"sku": "SKU-SHOE-1", "price": 99}}]
    ).is_success
    assert catalog_price(first, "r-2", "SKU-SHOE-1") == 99
    assert catalog_price(second, "r-3", "SKU-SHOE-1") == 99
    assert second.post("/__admin/tenants/default/reset").status_code in (200, 204)
    assert catalog_price(first, "r-4", "SKU-SHOE-1") == before
    assert catalog_price(second, "r-5", "SKU-SHOE-1") == before


def reference_compare(actual, test):
    """The comparison as docs/campaigns.md states it, written plainly: every test given holds."""
    checks = {
        "exists": lambda: (actual is not None) == test["exists"],
        "eq": lambda: actual == test["eq"],
        "ne": lambda: actual != test["ne"],
        "in": lambda: any(
            v in test["in"] for v in (actual if isinstance(actual, list) else [actual])
        ),
    }
    number = isinstance(actual, int | float) and not isinstance(actual, bool)
    bounds = {
        "gt": lambda b: number and actual > b,
        "gte": lambda b: number and actual >= b,
        "lt": lambda b: number and actual < b,
        "lte": lambda b: number and actual <= b,
    }
    return all(checks[k]() for k in checks if k in test) and all(
        bounds[k](test[k]) for k in bounds if k in test
    )


values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5), st.sampled_from(["a", "b"])
)
numbers = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False))
tests_of_a_condition = st.fixed_dictionaries(
    {},
    optional={
        "name": st.just("Color"),
        "eq": values,
        "ne": values,
        "gt": numbers,
        "gte": numbers,
        "lt": numbers,
        "lte": numbers,
        "in": st.lists(values, max_size=3),
        "exists": st.booleans(),
    },
)


@given(actual=st.one_of(values, st.lists(values, max_size=3)), test=tests_of_a_condition)
def test_comparisons_hold_exactly_when_every_given_test_holds(actual, test):
    assert rules.compare(actual, test) == reference_compare(actual, test)
