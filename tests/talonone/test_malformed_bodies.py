"""The same malformed body gets the same answer on every Talon.One route that takes a body:
sessions, returns, profiles, events, loyalty, cards, coupons, referrals, audiences, catalogs.

One request parser (talonone/parsing) reads them all, so the status, the title, the message
and the JSON pointer of a malformed body do not depend on the route; the body is the spec's
error shape (validated against the route's documented 400 when the spec is at hand)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS
from tests.contract.talon_spec import load_spec, validate_response

HEADERS = {**DEFAULT_CREDENTIALS["talonone"], "Content-Type": "application/json"}
CLOSED = "malformed-closed"


class Route:
    """A route taking a body: where it is, and a field whose type it checks first."""

    def __init__(
        self,
        family: str,
        operation: str,
        method: str,
        path: str,
        wrong_type: tuple[dict[str, Any], str, str],
        strict_keys: dict[str, Any] | None = None,
    ) -> None:
        self.family, self.operation, self.method, self.path = family, operation, method, path
        # (a body with one field of the wrong type, the field's pointer, what it must be)
        self.wrong_type = wrong_type
        # A valid body that an unknown key makes invalid (the bodies whose every field the
        # simulator reads); None where unknown keys are ignored, as the spec allows.
        self.strict_keys = strict_keys

    def __repr__(self) -> str:
        return self.operation


ROUTES = [
    Route(
        "sessions",
        "UpdateCustomerSessionV2",
        "PUT",
        "/v2/customer_sessions/malformed-1",
        ({"customerSession": {"profileId": 7}}, "/customerSession/profileId", "a string"),
        {"customerSession": {"profileId": "ann"}},
    ),
    Route(
        "sessions",
        "ReturnCartItems",
        "POST",
        f"/v2/customer_sessions/{CLOSED}/returns",
        ({"return": []}, "/return", "an object"),
        {"return": {"returnedCartItems": [{"position": 0}]}},
    ),
    Route(
        "profiles",
        "UpdateCustomerProfileV2",
        "PUT",
        "/v2/customer_profiles/malformed-ann",
        ({"attributes": "x"}, "/attributes", "an object"),
        {"attributes": {}},
    ),
    Route(
        "profiles",
        "UpdateCustomerProfilesV2",
        "PUT",
        "/v2/customer_profiles",
        ({"customerProfiles": {}}, "/customerProfiles", "an array"),
        {"customerProfiles": []},
    ),
    Route(
        "events",
        "TrackEventV2",
        "POST",
        "/v2/events",
        ({"type": 7, "profileId": "ann"}, "/type", "a string"),
        {"type": "malformed", "profileId": "ann"},
    ),
    Route(
        "cards",
        "GenerateLoyaltyCard",
        "POST",
        "/v1/loyalty_programs/3/cards",
        ({"status": 1}, "/status", "a string"),
    ),
    Route(
        "loyalty",
        "LinkLoyaltyCardToProfile",
        "POST",
        "/v2/loyalty_programs/3/cards/CARD-0002/link_profile",
        ({"integrationId": 7}, "/integrationId", "a string"),
    ),
    Route(
        "coupons",
        "CreateCouponReservation",
        "POST",
        "/v1/coupon_reservations/WALLET-5",
        ({"integrationIDs": "ann"}, "/integrationIDs", "an array"),
    ),
    Route(
        "coupons",
        "DeleteCouponReservation",
        "DELETE",
        "/v1/coupon_reservations/WALLET-5",
        ({"integrationIDs": "ann"}, "/integrationIDs", "an array"),
    ),
    Route(
        "referrals",
        "CreateReferral",
        "POST",
        "/v1/referrals",
        ({"campaignId": "1", "advocateProfileIntegrationId": "ann"}, "/campaignId", "an integer"),
    ),
    Route(
        "referrals",
        "CreateReferralsForMultipleAdvocates",
        "POST",
        "/v1/referrals_for_multiple_advocates",
        (
            {"campaignId": 1, "advocateProfileIntegrationIds": "ann"},
            "/advocateProfileIntegrationIds",
            "an array",
        ),
    ),
    Route(
        "audiences",
        "CreateAudienceV2",
        "POST",
        "/v2/audiences",
        ({"name": 7}, "/name", "a string"),
    ),
    Route(
        "audiences",
        "UpdateAudienceV2",
        "PUT",
        "/v2/audiences/1",
        ({"name": ["x"]}, "/name", "a string"),
    ),
    Route(
        "audiences",
        "UpdateCustomerProfileAudiences",
        "POST",
        "/v2/customer_audiences",
        ({"data": {"action": "add"}}, "/data", "an array"),
    ),
    Route(
        "catalogs",
        "SyncCatalog",
        "PUT",
        "/v1/catalogs/1/sync",
        ({"actions": {}}, "/actions", "an array"),
    ),
]
MALFORMED = {
    "empty": (b"", "Request body is missing", ""),
    "blank": (b"  \n", "Request body is missing", ""),
    "not JSON": (b"{customerSession: 1}", None, None),
    "NaN": (b'{"x": NaN}', None, None),
    "Infinity": (b'{"x": -Infinity}', None, None),
    "truncated": (b'{"x": [1, 2', None, None),
}
NOT_OBJECTS = [b"[]", b"7", b'"text"', b"null", b"true"]


@pytest.fixture
def talon(client: TestClient) -> TestClient:
    """The default tenant with one closed session (a return reads its body once the session
    is known to be returnable)."""
    closed = {"customerSession": {"state": "closed", "cartItems": [{"sku": "A", "quantity": 1}]}}
    response = client.put(f"/v2/customer_sessions/{CLOSED}", json=closed, headers=HEADERS)
    assert response.status_code == 200, response.text
    return client


def send(client: TestClient, route: Route, raw: bytes) -> Any:
    return client.request(route.method, route.path, content=raw, headers=HEADERS)


def error_of(route: Route, response: Any) -> dict[str, Any]:
    """The one error of a 400 in the spec's shape."""
    assert response.status_code == 400, (route, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"message", "errors", "StatusCode"}, body
    assert body["StatusCode"] == 400
    assert len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert set(error) == {"title", "details", "source"}, error
    assert error["details"] == body["message"]
    if load_spec() is not None and route.operation not in ("UpdateAudienceV2",):
        validate_response(route.operation, 400, body)  # UpdateAudienceV2 documents no 400
    return error


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_body_gets_one_answer_on_every_route(talon: TestClient, case: str) -> None:
    raw, message, pointer = MALFORMED[case]
    answers = {}
    for route in ROUTES:
        error = error_of(route, send(talon, route, raw))
        assert error["title"] == "Invalid body", (route, error)
        assert "pointer" in error["source"], (route, error)
        answers[repr(route)] = (error["details"], error["source"]["pointer"])
    assert len(set(answers.values())) == 1, answers
    if message is not None:
        assert set(answers.values()) == {(message, pointer)}


def test_a_body_that_is_not_an_object_gets_one_answer(talon: TestClient) -> None:
    for raw in NOT_OBJECTS:
        for route in ROUTES:
            error = error_of(route, send(talon, route, raw))
            assert error == {
                "title": "Invalid type",
                "details": "body must be an object",
                "source": {"pointer": ""},
            }, (route, raw, error)


@pytest.mark.parametrize("route", ROUTES, ids=repr)
def test_a_field_of_the_wrong_type_is_named_the_same_way(talon: TestClient, route: Route) -> None:
    body, pointer, expected = route.wrong_type
    response = talon.request(route.method, route.path, json=body, headers=HEADERS)
    error = error_of(route, response)
    assert error == {
        "title": "Invalid type",
        "details": f"{pointer} must be {expected}",
        "source": {"pointer": pointer},
    }


@pytest.mark.parametrize("route", ROUTES, ids=repr)
def test_unknown_keys(talon: TestClient, route: Route) -> None:
    """Refused with one answer where the simulator reads every field of the body; elsewhere
    ignored, as the spec allows (none of these request schemas forbids additional
    properties)."""
    if route.strict_keys is None:
        body, _pointer, _expected = route.wrong_type
        response = talon.request(
            route.method, route.path, json={**body, "unknownKey": 1}, headers=HEADERS
        )
        error = error_of(route, response)  # refused for its wrong type, not for the extra key
        assert error["source"]["pointer"] != "/unknownKey"
        return
    response = talon.request(
        route.method, route.path, json={**route.strict_keys, "unknownKey": 1}, headers=HEADERS
    )
    error = error_of(route, response)
    assert error == {
        "title": "Unknown",
        "details": "Unknown field 'unknownKey'",
        "source": {"pointer": "/unknownKey"},
    }


def test_every_route_family_is_covered() -> None:
    families = {route.family for route in ROUTES}
    assert families == {
        "sessions",
        "events",
        "profiles",
        "loyalty",
        "cards",
        "coupons",
        "referrals",
        "audiences",
        "catalogs",
    }
