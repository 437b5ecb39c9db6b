"""Talon.One engagement operations through the official SDK (talon-one-sdk 26.2) against a real
simulator process: documented status codes, typed models without ValidationError, and raw
bodies checked against the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
import talon_one
from talon_one.exceptions import ApiException, BadRequestException, NotFoundException

from tests.contract.talon_spec import validate_response

ENGAGEMENT_FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "attributes": {"CustomerProfile": {"Segment": "string"}},
        "campaigns": [
            {"id": 1, "name": "Coupons", "features": ["coupons"]},
            {"id": 2, "name": "Refer a friend", "features": ["referrals"]},
        ],
        "profiles": [{"integrationId": "amy"}, {"integrationId": "bob"}, {"integrationId": "eve"}],
        "loyaltyPrograms": [
            {
                "id": 7,
                "name": "points",
                "title": "Points",
                "transactions": [{"profileId": "amy", "amount": 120}],
            }
        ],
        "coupons": [
            {"value": "SOFT-2030", "campaignId": 1, "usageLimit": 5, "discountLimit": 50},
            {"value": "HARD-2030", "campaignId": 1, "isReservationMandatory": True},
            {"value": "SOLO-2030", "campaignId": 1, "reservation": False},
            {
                "value": "AMY-WALLET",
                "campaignId": 1,
                "reservedFor": ["amy"],
                "expiryDate": "2031-01-01T00:00:00Z",
                "limits": [
                    {"action": "redeemCoupon", "limit": 1, "entities": ["Coupon", "Profile"]}
                ],
            },
            {"value": "EVERYONE-1", "campaignId": 1, "implicitlyReserved": True},
        ],
        "referrals": [
            {
                "code": "AMY-REFERS",
                "campaignId": 2,
                "advocateProfileIntegrationId": "amy",
                "redemptions": [{"sessionId": "s-bob", "profileId": "bob"}],
            }
        ],
        "audiences": [{"name": "VIP", "members": ["amy", "eve"]}],
        "giveaways": [{"profileIntegrationId": "amy", "id": 3, "poolId": 1, "code": "GIFT-3"}],
        "achievements": [
            {
                "profileIntegrationId": "amy",
                "achievementId": 4,
                "name": "FiveOrders",
                "title": "Five orders",
                "description": "Order five times",
                "campaignId": 1,
                "progress": 2,
                "target": 5,
            }
        ],
    },
}


@pytest.fixture(scope="module")
def tenant(live_server) -> dict:
    return live_server.new_tenant(fixtures=ENGAGEMENT_FIXTURES)


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


def error_body(exc: ApiException) -> dict:
    body = json.loads(exc.body)
    assert body["StatusCode"] == exc.status
    assert isinstance(body["message"], str)
    return body


# --- referrals --------------------------------------------------------------------------------


def test_create_referral(api: talon_one.IntegrationApi) -> None:
    response = api.create_referral_with_http_info(
        talon_one.NewReferral(
            campaign_id=2,
            advocate_profile_integration_id="contract-advocate",
            friend_profile_integration_id="contract-friend",
            usage_limit=1,
            attributes={"channel": "web"},
        )
    )
    assert response.status_code == 201
    referral = response.data
    assert isinstance(referral, talon_one.Referral)
    assert len(referral.code) >= 4
    assert referral.usage_counter == 0
    assert referral.friend_profile_integration_id == "contract-friend"
    validate_response("createReferral", 201, raw(response))


def test_create_referral_bad_request_parsed_by_sdk(api: talon_one.IntegrationApi) -> None:
    with pytest.raises(BadRequestException) as caught:
        api.create_referral(
            talon_one.NewReferral(
                campaign_id=2,
                advocate_profile_integration_id="a",
                start_date="2030-02-01T00:00:00Z",
                expiry_date="2030-01-01T00:00:00Z",
            )
        )
    assert isinstance(caught.value.data, talon_one.ErrorResponse)
    assert error_body(caught.value)["errors"][0]["source"]["pointer"] == "/expiryDate"


def test_create_referrals_for_multiple_advocates(api: talon_one.IntegrationApi) -> None:
    body = talon_one.NewReferralsForMultipleAdvocates(
        campaign_id=2,
        advocate_profile_integration_ids=["multi-1", "multi-2"],
        usage_limit=2,
        referral_pattern="REF-####",
    )
    response = api.create_referrals_for_multiple_advocates_with_http_info(body, silent="no")
    assert response.status_code == 201
    assert response.data.total_result_size == 2
    assert [r.advocate_profile_integration_id for r in response.data.data] == [
        "multi-1",
        "multi-2",
    ]
    assert all(r.code.startswith("REF-") for r in response.data.data)
    validate_response("createReferralsForMultipleAdvocates", 201, raw(response))
    silent = api.create_referrals_for_multiple_advocates_with_http_info(body)
    assert silent.status_code == 204
    assert silent.data is None


# --- audiences --------------------------------------------------------------------------------


def test_audience_lifecycle(api: talon_one.IntegrationApi) -> None:
    created = api.create_audience_v2_with_http_info(
        talon_one.NewAudience(name="Contract", integration="segment", integration_id="seg-1")
    )
    assert created.status_code == 201
    audience = created.data
    assert isinstance(audience, talon_one.Audience)
    validate_response("createAudienceV2", 201, raw(created))

    with pytest.raises(ApiException) as conflict:
        api.create_audience_v2(
            talon_one.NewAudience(name="Again", integration="segment", integration_id="seg-1")
        )
    assert conflict.value.status == 409
    error_body(conflict.value)

    renamed = api.update_audience_v2_with_http_info(
        audience.id, talon_one.UpdateAudience(name="Renamed")
    )
    assert renamed.status_code == 200
    assert renamed.data.name == "Renamed"
    validate_response("updateAudienceV2", 200, raw(renamed))

    emptied = api.delete_audience_memberships_v2_with_http_info(audience.id)
    assert emptied.status_code == 204
    validate_response("deleteAudienceMembershipsV2", 204, None)

    deleted = api.delete_audience_v2_with_http_info(audience.id)
    assert deleted.status_code == 204
    with pytest.raises(NotFoundException) as missing:
        api.delete_audience_v2(audience.id)
    assert isinstance(missing.value.data, talon_one.ErrorResponseWithStatus)
    validate_response("deleteAudienceV2", 404, json.loads(missing.value.body))


def test_audience_not_found(api: talon_one.IntegrationApi) -> None:
    for call in (
        lambda: api.update_audience_v2(424242, talon_one.UpdateAudience(name="x")),
        lambda: api.delete_audience_memberships_v2(424242),
        lambda: api.update_audience_customers_attributes(424242, {"a": 1}),
    ):
        with pytest.raises(NotFoundException) as caught:
            call()
        error_body(caught.value)


# --- coupon reservations ----------------------------------------------------------------------


def test_reservations(api: talon_one.IntegrationApi) -> None:
    created = api.create_coupon_reservation_with_http_info(
        "SOFT-2030", talon_one.CouponReservations(integration_ids=["amy", "bob"])
    )
    assert created.status_code == 201
    coupon = created.data
    assert isinstance(coupon, talon_one.Coupon)
    assert coupon.value == "SOFT-2030"
    assert coupon.reservation_counter == 2
    validate_response("createCouponReservation", 201, raw(created))

    listed = api.get_reserved_customers_with_http_info("SOFT-2030")
    assert listed.status_code == 200
    assert [p.integration_id for p in listed.data.data] == ["amy", "bob"]
    assert listed.data.total_result_size == 2
    validate_response("getReservedCustomers", 200, raw(listed))

    deleted = api.delete_coupon_reservation_with_http_info(
        "SOFT-2030", talon_one.CouponReservations(integration_ids=["bob"])
    )
    assert deleted.status_code == 204
    assert [p.integration_id for p in api.get_reserved_customers("SOFT-2030").data] == ["amy"]


def test_reservation_errors(api: talon_one.IntegrationApi) -> None:
    body = talon_one.CouponReservations(integration_ids=["amy"])
    for call, operation in (
        (lambda: api.create_coupon_reservation("NOPE-2030", body), "createCouponReservation"),
        (lambda: api.delete_coupon_reservation("NOPE-2030", body), "deleteCouponReservation"),
        (lambda: api.get_reserved_customers("NOPE-2030"), "getReservedCustomers"),
    ):
        with pytest.raises(NotFoundException) as caught:
            call()
        validate_response(operation, 404, json.loads(caught.value.body))
    api.create_coupon_reservation("SOLO-2030", body)
    with pytest.raises(BadRequestException) as refused:
        api.create_coupon_reservation(
            "SOLO-2030", talon_one.CouponReservations(integration_ids=["bob"])
        )
    validate_response("createCouponReservation", 400, json.loads(refused.value.body))


# --- memberships, attributes ------------------------------------------------------------------


def test_customer_audiences_and_member_attributes(api: talon_one.IntegrationApi) -> None:
    audience = api.create_audience_v2(talon_one.NewAudience(name="Bulk"))
    request = talon_one.CustomerProfileAudienceRequest(
        data=[
            talon_one.CustomerProfileAudienceRequestItem(
                action="add", profile_integration_id="bob", audience_id=audience.id
            ),
            talon_one.CustomerProfileAudienceRequestItem(
                action="add", profile_integration_id="new-in-bulk", audience_id=audience.id
            ),
        ]
    )
    changed = api.update_customer_profile_audiences_with_http_info(request)
    assert changed.status_code == 204
    updated = api.update_audience_customers_attributes_with_http_info(
        audience.id, {"Segment": "bulk"}
    )
    assert updated.status_code == 204
    for profile_id in ("bob", "new-in-bulk"):
        profile = api.get_customer_inventory(profile_id, profile=True).profile
        assert profile.attributes == {"Segment": "bulk"}
        assert [m.name for m in profile.audience_memberships] == ["Bulk"]
    with pytest.raises(NotFoundException) as missing:
        api.update_customer_profile_audiences(
            talon_one.CustomerProfileAudienceRequest(
                data=[
                    talon_one.CustomerProfileAudienceRequestItem(
                        action="delete", profile_integration_id="bob", audience_id=424242
                    )
                ]
            )
        )
    validate_response("updateCustomerProfileAudiences", 404, json.loads(missing.value.body))


# --- inventory and customer data --------------------------------------------------------------


def test_inventory_with_every_flag(api: talon_one.IntegrationApi) -> None:
    response = api.get_customer_inventory_with_http_info(
        "amy",
        profile=True,
        referrals=True,
        coupons=True,
        loyalty=True,
        giveaways=True,
        achievements=True,
    )
    assert response.status_code == 200
    inventory = response.data
    assert isinstance(inventory, talon_one.CustomerInventory)
    assert inventory.profile.integration_id == "amy"
    assert {c.value for c in inventory.coupons} >= {"AMY-WALLET", "EVERYONE-1"}
    assert all(c.state == "active" for c in inventory.coupons)
    assert inventory.referrals[0].code == "AMY-REFERS"
    assert inventory.referrals[0].referred_customers == ["bob"]
    assert inventory.loyalty.programs["7"].ledger.current_balance == 120
    assert inventory.giveaways[0].code == "GIFT-3"
    assert inventory.achievements[0].name == "FiveOrders"
    validate_response("getCustomerInventory", 200, raw(response))


def test_inventory_blocks_follow_the_flags(api: talon_one.IntegrationApi) -> None:
    response = api.get_customer_inventory_with_http_info("amy", coupons=True)
    assert set(raw(response)) == {"coupons"}
    assert response.data.profile is None
    with pytest.raises(NotFoundException) as missing:
        api.get_customer_inventory("nobody", profile=True)
    validate_response("getCustomerInventory", 404, json.loads(missing.value.body))


def test_delete_customer_data(api: talon_one.IntegrationApi) -> None:
    assert api.get_customer_inventory("eve", profile=True).profile.integration_id == "eve"
    response = api.delete_customer_data_with_http_info("eve")
    assert response.status_code == 204
    assert response.data is None
    with pytest.raises(NotFoundException):
        api.get_customer_inventory("eve", profile=True)
    with pytest.raises(NotFoundException) as again:
        api.delete_customer_data("eve")
    assert isinstance(again.value.data, talon_one.ErrorResponseWithStatus)
    validate_response("deleteCustomerData", 404, json.loads(again.value.body))
