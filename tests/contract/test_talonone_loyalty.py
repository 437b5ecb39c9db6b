"""Talon.One loyalty operations through the official SDK (talon-one-sdk 26.2) against a real
simulator process: documented status codes, typed models without ValidationError, and raw
bodies checked against the OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import talon_one
from talon_one.exceptions import ApiException, BadRequestException, NotFoundException

from tests.contract.talon_spec import validate_response

LOYALTY_FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "loyaltyPrograms": [
            {
                "id": 1,
                "name": "points",
                "title": "Points",
                "subledgers": ["food"],
                "tiers": [
                    {"id": 1, "name": "Bronze", "minPoints": 0},
                    {"id": 2, "name": "Silver", "minPoints": 100},
                ],
                "transactions": [
                    {"profileId": "sdk-ann", "amount": 80, "created": "2029-12-01T00:00:00Z"},
                    {
                        "profileId": "sdk-ann",
                        "amount": 20.5,
                        "startDate": "2030-01-05T00:00:00Z",
                        "expiryDate": "2030-03-01T00:00:00Z",
                        "created": "2029-12-02T00:00:00Z",
                    },
                    {
                        "profileId": "sdk-ann",
                        "subledgerId": "food",
                        "amount": 5,
                        "created": "2029-12-03T00:00:00Z",
                    },
                    {
                        "profileId": "sdk-ann",
                        "type": "subtraction",
                        "amount": 10,
                        "created": "2029-12-04T00:00:00Z",
                    },
                ],
            },
            {
                "id": 2,
                "name": "cards",
                "title": "Cards",
                "cardBased": True,
                "usersPerCardLimit": 1,
                "cards": [{"identifier": "SDK-CARD-1"}],
                "transactions": [{"cardIdentifier": "SDK-CARD-1", "amount": 12}],
            },
        ]
    },
}


@pytest.fixture(scope="module")
def tenant(live_server) -> dict:
    return live_server.new_tenant(fixtures=LOYALTY_FIXTURES)


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


def checked(operation_id: str, response: Any) -> Any:
    assert response.status_code == 200
    validate_response(operation_id, response.status_code, raw(response))
    return response.data


def error_of(exc: ApiException, operation_id: str) -> dict:
    body = json.loads(exc.body)
    assert body["StatusCode"] == exc.status and isinstance(body["message"], str)
    validate_response(operation_id, exc.status, body)
    return body


def test_get_loyalty_balances(api) -> None:
    response = api.get_loyalty_balances_with_http_info(
        1, "sdk-ann", include_tiers=True, include_projected_tier=True
    )
    data = checked("getLoyaltyBalances", response)
    assert data.balance.active_points == 70
    assert data.balance.pending_points == 20.5
    assert data.balance.spent_points == 10
    assert data.balance.current_tier.name == "Bronze"
    assert data.balance.next_tier_name == "Silver"
    assert data.balance.projected_tier.projected_active_points == 90.5
    assert data.subledger_balances["food"].active_points == 5
    later = api.get_loyalty_balances_with_http_info(
        1, "sdk-ann", end_date=datetime(2030, 1, 6, tzinfo=UTC), subledger_id=""
    )
    assert checked("getLoyaltyBalances", later).balance.active_points == 90.5


def test_get_loyalty_program_profile_points(api) -> None:
    response = api.get_loyalty_program_profile_points_with_http_info(1, "sdk-ann", page_size=1)
    data = checked("getLoyaltyProgramProfilePoints", response)
    assert data.has_more is True and data.data[0].amount == 70
    assert data.data[0].start_date == "immediate" and data.data[0].expiry_date == "unlimited"
    pending = api.get_loyalty_program_profile_points_with_http_info(
        1, "sdk-ann", status="pending", sort="-expiryDate"
    )
    assert [p.amount for p in checked("getLoyaltyProgramProfilePoints", pending).data] == [20.5]


def test_get_loyalty_program_profile_transactions(api) -> None:
    response = api.get_loyalty_program_profile_transactions_with_http_info(1, "sdk-ann")
    data = checked("getLoyaltyProgramProfileTransactions", response)
    assert [t.type for t in data.data] == ["subtraction", "addition", "addition", "addition"]
    assert data.data[0].flags.creates_negative_balance is False
    imported = api.get_loyalty_program_profile_transactions_with_http_info(
        1, "sdk-ann", loyalty_transaction_type="import", subledger_id="food"
    )
    assert [t.amount for t in checked("getLoyaltyProgramProfileTransactions", imported).data] == [5]


def test_generate_and_link_loyalty_cards(api) -> None:
    response = api.generate_loyalty_card_with_http_info(
        2, talon_one.GenerateLoyaltyCard(customer_profile_ids=["sdk-bea"])
    )
    card = checked("generateLoyaltyCard", response)
    assert card.program_id == 2 and card.profiles[0].integration_id == "sdk-bea"
    plain = api.generate_loyalty_card_with_http_info(
        2, talon_one.GenerateLoyaltyCard(card_identifier="SDK-CARD-2", status="inactive")
    )
    assert checked("generateLoyaltyCard", plain).status == "inactive"
    linked = api.link_loyalty_card_to_profile_with_http_info(
        2, "SDK-CARD-2", talon_one.LoyaltyCardRegistration(integration_id="sdk-cid")
    )
    assert checked("linkLoyaltyCardToProfile", linked).profiles[0].integration_id == "sdk-cid"
    with pytest.raises(BadRequestException) as over_limit:
        api.link_loyalty_card_to_profile(
            2, "SDK-CARD-2", talon_one.LoyaltyCardRegistration(integration_id="sdk-dee")
        )
    error_of(over_limit.value, "linkLoyaltyCardToProfile")
    with pytest.raises(NotFoundException) as unknown:
        api.link_loyalty_card_to_profile(
            2, "NO-SUCH-CARD", talon_one.LoyaltyCardRegistration(integration_id="sdk-dee")
        )
    error_of(unknown.value, "linkLoyaltyCardToProfile")


def test_card_balances_points_and_transactions(api) -> None:
    balances = api.get_loyalty_card_balances_with_http_info(2, "SDK-CARD-1")
    assert checked("getLoyaltyCardBalances", balances).balance.active_points == 12
    points = api.get_loyalty_card_points_with_http_info(2, "SDK-CARD-1")
    assert [p.amount for p in checked("getLoyaltyCardPoints", points).data] == [12]
    transactions = api.get_loyalty_card_transactions_with_http_info(2, "SDK-CARD-1")
    data = checked("getLoyaltyCardTransactions", transactions)
    assert data.data[0].card_identifier == "SDK-CARD-1"


def test_documented_errors(api) -> None:
    with pytest.raises(NotFoundException) as unknown_program:
        api.get_loyalty_balances(99, "sdk-ann")
    error_of(unknown_program.value, "getLoyaltyBalances")
    with pytest.raises(BadRequestException) as wrong_kind:
        api.get_loyalty_card_points(1, "SDK-CARD-1")
    error_of(wrong_kind.value, "getLoyaltyCardPoints")
    with pytest.raises(BadRequestException) as awaits:
        api.get_loyalty_program_profile_transactions(1, "sdk-ann", awaits_activation=False)
    error_of(awaits.value, "getLoyaltyProgramProfileTransactions")
    with pytest.raises(NotFoundException) as unknown_profile:
        api.get_loyalty_program_profile_points(1, "nobody-here")
    error_of(unknown_profile.value, "getLoyaltyProgramProfilePoints")
