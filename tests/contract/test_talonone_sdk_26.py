"""The Talon.One operations SDK 26.2 added over the first document (issue 24), through the
official SDK against a real simulator process: typed models without ValidationError, raw bodies
checked against the OpenAPI document, documented errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import talon_one
from talon_one.exceptions import ApiException, BadRequestException, NotFoundException

from tests.contract.talon_spec import validate_response

FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "catalogs": [
            {
                "id": 1,
                "name": "Shop",
                "created": "2029-12-01T00:00:00Z",
                "items": [{"sku": "SDK-SHOE", "price": 100}],
            }
        ],
        "priceHistory": [
            {"sku": "SDK-SHOE", "price": 100, "observedAt": "2029-12-01T00:00:00Z"},
            {"sku": "SDK-SHOE", "price": 70, "observedAt": "2029-12-20T00:00:00Z"},
            {"sku": "SDK-SHOE", "price": 100, "observedAt": "2029-12-27T00:00:00Z"},
        ],
        "campaigns": [
            {
                "id": 1,
                "name": "Points on action",
                "features": ["loyalty", "achievements"],
                "rules": [
                    {
                        "title": "10 points once shipped",
                        "conditions": [{"cartTotal": {"gt": 0}}],
                        "effects": [
                            {
                                "addLoyaltyPoints": {
                                    "programId": 1,
                                    "value": 10,
                                    "startDate": "on_action",
                                    "validityDuration": "30D",
                                }
                            }
                        ],
                    }
                ],
            }
        ],
        "campaignAchievements": [
            {
                "id": 1,
                "campaignId": 1,
                "name": "TwoOrders",
                "title": "Two orders",
                "description": "Close two sessions",
                "target": 2,
                "period": "30D",
                "recurrencePolicy": "on_completion",
            },
            {
                "id": 2,
                "campaignId": 1,
                "name": "Later",
                "title": "Later",
                "target": 1,
                "activationPolicy": "fixed_schedule",
                "fixedStartDate": "2031-01-01T00:00:00Z",
            },
        ],
        "loyaltyPrograms": [
            {
                "id": 1,
                "name": "points",
                "subledgers": ["food"],
                "transactions": [
                    {"profileId": "sdk-del", "amount": 80, "created": "2029-12-01T00:00:00Z"},
                    {
                        "profileId": "sdk-del",
                        "subledgerId": "food",
                        "amount": 5,
                        "created": "2029-12-02T00:00:00Z",
                    },
                ],
            },
            {
                "id": 2,
                "name": "cards",
                "cardBased": True,
                "cards": [{"identifier": "SDK-CARD-9", "profiles": ["sdk-un"]}],
                "transactions": [{"cardIdentifier": "SDK-CARD-9", "amount": 12}],
            },
        ],
    },
}


@pytest.fixture(scope="module")
def tenant(live_server) -> dict:
    return live_server.new_tenant(fixtures=FIXTURES)


@pytest.fixture(scope="module")
def api(live_server, tenant) -> talon_one.IntegrationApi:
    config = talon_one.Configuration(
        host=live_server.url,
        api_key={"api_key_v1": tenant["credentials"]["talonone"]["api_key"]},
        api_key_prefix={"api_key_v1": "ApiKey-v1"},
    )
    return talon_one.IntegrationApi(talon_one.ApiClient(config))


def raw(response: Any) -> Any:
    return json.loads(response.raw_data) if response.raw_data else None


def checked(operation_id: str, response: Any, status: int = 200) -> Any:
    assert response.status_code == status
    validate_response(operation_id, response.status_code, raw(response))
    return response.data


def error_of(exc: ApiException, operation_id: str) -> dict:
    body = json.loads(exc.body)
    assert body["StatusCode"] == exc.status and isinstance(body["message"], str)
    validate_response(operation_id, exc.status, body)
    return body


def test_activate_loyalty_points(api) -> None:
    session = talon_one.NewCustomerSessionV2(
        profile_id="sdk-act",
        state="closed",
        cart_items=[talon_one.CartItem(sku="BOOK", quantity=1, price=20)],
    )
    closed = api.update_customer_session_v2_with_http_info(
        "sdk-act-1", talon_one.IntegrationRequest(customer_session=session)
    )
    checked("updateCustomerSessionV2", closed)
    pending = api.get_loyalty_balances(1, "sdk-act")
    assert pending.balance.pending_points == 10
    response = api.activate_loyalty_points_with_http_info(
        1, talon_one.ActivateLoyaltyPoints(session_id="sdk-act-1")
    )
    data = checked("activateLoyaltyPoints", response)
    assert [(e.amount, e.customer_session_id) for e in data.ledger_entries] == [(10, "sdk-act-1")]
    assert data.ledger_entries[0].validity_duration == "30D"
    assert api.get_loyalty_balances(1, "sdk-act").balance.active_points == 10
    with pytest.raises(NotFoundException) as none_waiting:
        api.activate_loyalty_points(1, talon_one.ActivateLoyaltyPoints(session_id="sdk-act-1"))
    error_of(none_waiting.value, "activateLoyaltyPoints")


def test_delete_loyalty_transactions_from_ledgers(api) -> None:
    response = api.delete_loyalty_transactions_from_ledgers_with_http_info(
        1,
        "sdk-del",
        talon_one.DeleteLoyaltyTransactionsRequest(
            scope="SelectedSubledgers", subledger_ids=["food"]
        ),
    )
    checked("deleteLoyaltyTransactionsFromLedgers", response, status=204)
    balances = api.get_loyalty_balances(1, "sdk-del")
    assert balances.balance.active_points == 80
    assert balances.subledger_balances["food"].active_points == 0
    with pytest.raises(BadRequestException) as no_ids:
        api.delete_loyalty_transactions_from_ledgers(
            1, "sdk-del", talon_one.DeleteLoyaltyTransactionsRequest(scope="SelectedSubledgers")
        )
    error_of(no_ids.value, "deleteLoyaltyTransactionsFromLedgers")
    with pytest.raises(NotFoundException) as unknown:
        api.delete_loyalty_transactions_from_ledgers(
            1, "nobody-here", talon_one.DeleteLoyaltyTransactionsRequest(scope="AllSubledgers")
        )
    error_of(unknown.value, "deleteLoyaltyTransactionsFromLedgers")


def test_unlink_loyalty_card_from_profile(api) -> None:
    registration = talon_one.LoyaltyCardRegistration(integration_id="sdk-un")
    response = api.unlink_loyalty_card_from_profile_with_http_info(2, "SDK-CARD-9", registration)
    card = checked("unlinkLoyaltyCardFromProfile", response)
    assert card.profiles == [] and card.ledger.current_balance == 12
    with pytest.raises(NotFoundException) as not_linked:
        api.unlink_loyalty_card_from_profile(2, "SDK-CARD-9", registration)
    error_of(not_linked.value, "unlinkLoyaltyCardFromProfile")
    linked = api.link_loyalty_card_to_profile_with_http_info(2, "SDK-CARD-9", registration)
    assert checked("linkLoyaltyCardToProfile", linked).profiles[0].integration_id == "sdk-un"


def test_best_prior_price(api) -> None:
    request = talon_one.BestPriorPriceRequest(
        skus=["SDK-SHOE", "SDK-NONE"],
        timeframe_end_date=datetime(2030, 1, 1, tzinfo=UTC),
        timeframe="30",
        strict_end_date=True,
        target=talon_one.BestPriorTarget(target_type="NONE"),
    )
    response = api.best_prior_price_with_http_info(request)
    data = checked("bestPriorPrice", response)
    assert [(p.sku, p.price) for p in data] == [("SDK-SHOE", 70)]
    assert data[0].observed_at == datetime(2029, 12, 20, tzinfo=UTC)
    with pytest.raises(BadRequestException) as bad:
        api.best_prior_price(
            talon_one.BestPriorPriceRequest(
                skus=["SDK-SHOE"],
                timeframe_end_date=datetime(2030, 1, 1, tzinfo=UTC),
                timeframe="a month",
                strict_end_date=True,
            )
        )
    assert json.loads(bad.value.body)["StatusCode"] == 400


def test_customer_achievements_and_history(api) -> None:
    for session_id in ("sdk-ach-1", "sdk-ach-2"):
        session = talon_one.NewCustomerSessionV2(
            profile_id="sdk-ach",
            state="closed",
            cart_items=[talon_one.CartItem(sku="BOOK", quantity=1, price=20)],
        )
        closed = api.update_customer_session_v2_with_http_info(
            session_id, talon_one.IntegrationRequest(customer_session=session)
        )
        checked("updateCustomerSessionV2", closed)
    effects = [e.effect_type for e in closed.data.effects]
    assert "increaseAchievementProgress" in effects
    response = api.get_customer_achievements_with_http_info("sdk-ach")
    data = checked("getCustomerAchievements", response)
    assert data.total_result_size == 2
    first = data.data[0]
    assert (first.name, first.current_progress.status, first.current_progress.progress) == (
        "TwoOrders",
        "completed",
        2,
    )
    assert data.data[1].status == "scheduled"
    paged = api.get_customer_achievements_with_http_info("sdk-ach", page_size=1, skip=1)
    assert [a.id for a in checked("getCustomerAchievements", paged).data] == [2]
    history = api.get_customer_achievement_history_with_http_info("sdk-ach", 1)
    entries = checked("getCustomerAchievementHistory", history)
    assert [(e.status, e.progress) for e in entries.data] == [("completed", 2)]
    with pytest.raises(NotFoundException) as unknown:
        api.get_customer_achievement_history("sdk-ach", 99)
    error_of(unknown.value, "getCustomerAchievementHistory")
    with pytest.raises(NotFoundException) as nobody:
        api.get_customer_achievements("nobody-here")
    error_of(nobody.value, "getCustomerAchievements")


@pytest.fixture(scope="module")
def http(live_server, tenant):
    import httpx

    key = tenant["credentials"]["talonone"]["api_key"]
    headers = {"Authorization": f"ApiKey-v1 {key}"}
    with httpx.Client(base_url=live_server.url, headers=headers) as client:
        yield client


def test_integration_get_all_campaigns_raw(http) -> None:
    """Not in SDK 26.2: the raw answer against the document."""
    response = http.get("/v1/integration/campaigns", params={"pageSize": 1})
    assert response.status_code == 200
    validate_response("integrationGetAllCampaigns", 200, response.json())
    assert response.json()["data"][0]["id"] == 1
    bad = http.get("/v1/integration/campaigns", params={"pageSize": 0})
    assert bad.status_code == 400
    validate_response("integrationGetAllCampaigns", 400, bad.json())


def test_track_and_get_event_v3_raw(http) -> None:
    """Not in SDK 26.2: the raw answers against the document."""
    body = {
        "profileId": "sdk-v3",
        "type": "review",
        "integrationId": "sdk-v3-1",
        "responseContent": ["advancedEvent", "customerProfile"],
    }
    tracked = http.post("/v3/events", params={"silent": "no"}, json=body)
    assert tracked.status_code == 200, tracked.text
    validate_response("trackEventV3", 200, tracked.json())
    read = http.get("/v3/events/sdk-v3-1")
    assert read.status_code == 200
    validate_response("getEventV3", 200, read.json())
    assert read.json()["integrationId"] == "sdk-v3-1"
    again = http.post("/v3/events", params={"silent": "no"}, json=body)
    assert again.status_code == 409
    validate_response("trackEventV3", 409, again.json())
    missing = http.get("/v3/events/nothing")
    assert missing.status_code == 404
    validate_response("getEventV3", 404, missing.json())
