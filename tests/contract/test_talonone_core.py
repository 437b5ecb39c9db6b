"""Talon.One core operations through the official SDK (talon-one-sdk 26.2) against a real
simulator process: the documented status codes, typed models without ValidationError, and raw
bodies checked against the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
import talon_one
from talon_one.exceptions import ApiException, BadRequestException, NotFoundException

from tests.contract.talon_spec import validate_response

SESSION_CONTENT = [
    "customerSession",
    "customerProfile",
    "triggeredCampaigns",
    "ruleFailureReasons",
    "loyalty",
    "event",
    "awardedGiveaways",
    "previousReturns",
    "coupons",
    "referral",
]


@pytest.fixture(scope="module")
def api(live_server) -> talon_one.IntegrationApi:
    tenant = live_server.new_tenant()
    config = talon_one.Configuration(
        host=live_server.url,
        api_key={"api_key_v1": tenant["credentials"]["talonone"]["api_key"]},
        api_key_prefix={"api_key_v1": "ApiKey-v1"},
    )
    return talon_one.IntegrationApi(talon_one.ApiClient(config))


def raw(response: Any) -> Any:
    return json.loads(response.raw_data) if response.raw_data else None


def error_body(exc: ApiException) -> dict:
    body = json.loads(exc.body)
    assert body["StatusCode"] == exc.status
    assert isinstance(body["message"], str)
    return body


def cart() -> list[talon_one.CartItem]:
    return [
        talon_one.CartItem(sku="SKU-SHOE-1", quantity=2),
        talon_one.CartItem(sku="SKU-SHIRT-1", quantity=1, price=30, name="Tee"),
    ]


def put_session(api, session_id: str, content=SESSION_CONTENT, **fields) -> Any:
    request = talon_one.IntegrationRequest(
        customer_session=talon_one.NewCustomerSessionV2(**fields), response_content=content
    )
    return api.update_customer_session_v2_with_http_info(session_id, request)


def test_update_session_open_close_and_read(api) -> None:
    response = put_session(
        api,
        "sdk-1",
        profile_id="sdk-customer",
        cart_items=cart(),
        additional_costs={"shipping": talon_one.AdditionalCost(price=5)},
        attributes={"Channel": "web"},
        coupon_codes=["WELCOME-5"],
        referral_code="ADA-FRIENDS",
    )
    assert response.status_code == 200
    state = response.data
    assert isinstance(state, talon_one.IntegrationStateV2)
    assert state.customer_session.total == 195
    assert state.customer_session.update_count == 1
    assert {e.effect_type for e in state.effects} >= {
        "setDiscount",
        "addLoyaltyPoints",
        "acceptCoupon",
        "acceptReferral",
    }
    assert state.coupons[0].value == "WELCOME-5"
    assert state.referral.code == "ADA-FRIENDS"
    validate_response("updateCustomerSessionV2", 200, raw(response))

    closed = put_session(api, "sdk-1", state="closed")
    assert closed.data.customer_session.state == "closed"
    assert closed.data.customer_profile.closed_sessions == 1
    validate_response("updateCustomerSessionV2", 200, raw(closed))

    read = api.get_customer_session_with_http_info("sdk-1")
    assert read.status_code == 200
    assert isinstance(read.data, talon_one.IntegrationCustomerSessionResponse)
    assert read.data.customer_session.integration_id == "sdk-1"
    assert read.data.effects
    validate_response("getCustomerSession", 200, raw(read))


def test_sdk_default_state_open_on_a_closed_session_is_400(api) -> None:
    put_session(api, "sdk-2", cart_items=cart(), state="closed")
    with pytest.raises(BadRequestException) as caught:
        put_session(api, "sdk-2", attributes={"Channel": "app"})  # the SDK sends state open
    assert isinstance(caught.value.data, talon_one.ErrorResponse)
    body = error_body(caught.value)
    assert body["errors"][0]["source"]["pointer"] == "/customerSession/state"
    validate_response("updateCustomerSessionV2", 400, body)


def test_bad_attribute_is_400_for_the_sdk(api) -> None:
    with pytest.raises(BadRequestException) as caught:
        put_session(api, "sdk-3", attributes={"NotDefined": 1})
    assert error_body(caught.value)["errors"][0]["title"] == "Unknown"


def test_unknown_session_is_404(api) -> None:
    with pytest.raises(NotFoundException):
        api.get_customer_session("sdk-none")


def test_return_then_reopen_rules(api) -> None:
    put_session(api, "sdk-4", profile_id="sdk-customer", cart_items=cart(), state="closed")
    request = talon_one.ReturnIntegrationRequest(
        var_return=talon_one.NewReturn(
            returned_cart_items=[talon_one.ReturnedCartItem(position=0, quantity=1)]
        ),
        response_content=["customerSession", "customerProfile", "previousReturns"],
    )
    response = api.return_cart_items_with_http_info(
        "sdk-4", request, _headers={"Idempotency-Key": "sdk-return-1"}
    )
    assert response.status_code == 200
    assert response.data.customer_session.state == "partially_returned"
    assert response.data.var_return.returned_cart_items[0].quantity == 1
    assert any(e.effect_type == "rollbackDiscount" for e in response.data.effects)
    validate_response("returnCartItems", 200, raw(response))
    with pytest.raises(BadRequestException) as caught:
        api.reopen_customer_session("sdk-4")
    validate_response("reopenCustomerSession", 400, error_body(caught.value))


def test_reopen_closed_session(api) -> None:
    put_session(api, "sdk-5", profile_id="sdk-customer", cart_items=cart(), state="closed")
    response = api.reopen_customer_session_with_http_info("sdk-5")
    assert response.status_code == 200
    assert isinstance(response.data, talon_one.ReopenSessionResponse)
    assert {e.effect_type for e in response.data.effects} >= {"rollbackDiscount"}
    validate_response("reopenCustomerSession", 200, raw(response))


def test_cancel_returns_rollbacks(api) -> None:
    put_session(api, "sdk-6", profile_id="sdk-customer", cart_items=cart(), state="closed")
    response = put_session(api, "sdk-6", state="cancelled")
    assert response.data.customer_session.state == "cancelled"
    assert any(e.effect_type == "rollbackDiscount" for e in response.data.effects)
    validate_response("updateCustomerSessionV2", 200, raw(response))


def test_update_profile(api) -> None:
    request = talon_one.CustomerProfileIntegrationRequestV2(
        attributes={"Name": "SDK", "Age": 30},
        response_content=["customerProfile", "triggeredCampaigns", "loyalty", "event"],
    )
    response = api.update_customer_profile_v2_with_http_info(
        "sdk-profile", request, run_rule_engine=True
    )
    assert response.status_code == 200
    assert response.data.customer_profile.attributes == {"Name": "SDK", "Age": 30}
    validate_response("updateCustomerProfileV2", 200, raw(response))
    plain = api.update_customer_profile_v2_with_http_info(
        "sdk-profile", talon_one.CustomerProfileIntegrationRequestV2(attributes={"Tier": "gold"})
    )
    assert plain.data.customer_profile.attributes["Tier"] == "gold"
    validate_response("updateCustomerProfileV2", 200, raw(plain))


def test_update_profiles_silent_and_verbose(api) -> None:
    request = talon_one.MultipleCustomerProfileIntegrationRequest(
        customer_profiles=[
            talon_one.MultipleCustomerProfileIntegrationRequestItem(
                integration_id="bulk-sdk-1", attributes={"Name": "One"}
            )
        ]
    )
    silent = api.update_customer_profiles_v2_with_http_info(request)
    assert silent.status_code == 204 and silent.data is None
    verbose = api.update_customer_profiles_v2_with_http_info(request, silent="no")
    assert verbose.status_code == 200
    assert verbose.data.integration_states[0].customer_profile.integration_id == "bulk-sdk-1"
    validate_response("updateCustomerProfilesV2", 200, raw(verbose))


def test_track_event(api) -> None:
    request = talon_one.IntegrationEventV2Request(
        type="review_submitted",
        profile_id="sdk-reviewer",
        attributes={"Rating": 5},
        response_content=["customerProfile", "triggeredCampaigns", "event", "ruleFailureReasons"],
    )
    silent = api.track_event_v2_with_http_info(request)
    assert silent.status_code == 204
    response = api.track_event_v2_with_http_info(request, silent="no")
    assert response.status_code == 200
    assert isinstance(response.data, talon_one.TrackEventV2Response)
    assert response.data.event.type == "review_submitted"
    assert [e.effect_type for e in response.data.effects][0] == "addLoyaltyPoints"
    validate_response("trackEventV2", 200, raw(response))


def test_track_event_bad_request(api) -> None:
    request = talon_one.IntegrationEventV2Request(type="x", profile_id="p", attributes={"Nope": 1})
    with pytest.raises(BadRequestException) as caught:
        api.track_event_v2(request, silent="no")
    validate_response("trackEventV2", 400, error_body(caught.value))


def test_sync_catalog(api) -> None:
    request = talon_one.CatalogSyncRequest(
        actions=[{"type": "ADD", "payload": {"sku": "SDK-1", "price": 3, "attributes": {"a": 1}}}]
    )
    response = api.sync_catalog_with_http_info(1, request)
    assert response.status_code == 200
    assert isinstance(response.data, talon_one.Catalog)
    assert response.data.version == 2
    validate_response("syncCatalog", 200, raw(response))
    with pytest.raises(BadRequestException) as caught:
        api.sync_catalog(1, request)  # the SKU exists now
    validate_response("syncCatalog", 400, error_body(caught.value))
    with pytest.raises(NotFoundException) as missing:
        api.sync_catalog(404, request)
    validate_response("syncCatalog", 404, error_body(missing.value))
