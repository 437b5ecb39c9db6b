"""Whatever JSON arrives on an engagement endpoint, the answer is a success or the API's own
4xx error body: never a 500, never FastAPI's `{"detail": ...}`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DEFAULT_CREDENTIALS

HEADERS = DEFAULT_CREDENTIALS["talonone"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "integrationIDs",
    "campaignId",
    "advocateProfileIntegrationId",
    "advocateProfileIntegrationIds",
    "friendProfileIntegrationId",
    "usageLimit",
    "startDate",
    "expiryDate",
    "attributes",
    "referralPattern",
    "validCharacters",
    "name",
    "integration",
    "integrationId",
    "lastUpdate",
    "data",
]
bodies = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5),
)
ENDPOINTS = [
    ("POST", "/v1/coupon_reservations/WALLET-5"),
    ("DELETE", "/v1/coupon_reservations/WALLET-5"),
    ("POST", "/v1/referrals"),
    ("POST", "/v1/referrals_for_multiple_advocates?silent=no"),
    ("POST", "/v2/audiences"),
    ("PUT", "/v2/audiences/1"),
    ("PUT", "/v2/audience_customers/1/attributes"),
    ("POST", "/v2/customer_audiences"),
]


def check_answer(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert "detail" not in body
        assert body["StatusCode"] == response.status_code
        assert isinstance(body["message"], str)
        assert all("title" in e and "source" in e for e in body["errors"])


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_random_bodies_get_native_answers(client: TestClient, method: str, path: str) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(body=bodies)
    def run(body) -> None:
        check_answer(client.request(method, path, json=body, headers=HEADERS))

    run()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customer_profiles/customer-1/inventory?profile=yes&coupons=2",
        "/v1/customer_profiles//inventory",
        "/v1/coupon_reservations/customerprofiles/",
        "/v2/audiences/99999999999999999999999",
    ],
)
def test_odd_paths_get_native_answers(client: TestClient, path: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        check_answer(client.request(method, path, headers=HEADERS))


def test_ids_beyond_the_store_match_nothing(client: TestClient) -> None:
    for beyond in (2**31, 2**40, 2**63 - 1):  # PostgreSQL's 32-bit column; the API's int64
        body = {"data": [{"action": "add", "profileIntegrationId": "p", "audienceId": beyond}]}
        response = client.post("/v2/customer_audiences", json=body, headers=HEADERS)
        assert response.status_code == 404, (beyond, response.text)
        check_answer(response)


def test_ids_beyond_64_bits_are_no_integers(client: TestClient) -> None:
    # Like the real API's int64 fields (and the core operations' integers, behaviour.md).
    huge = 2**70
    body = {"data": [{"action": "add", "profileIntegrationId": "p", "audienceId": huge}]}
    response = client.post("/v2/customer_audiences", json=body, headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/0/audienceId"
    check_answer(response)
    response = client.post(
        "/v1/referrals",
        json={"campaignId": huge, "advocateProfileIntegrationId": "a"},
        headers=HEADERS,
    )
    assert response.status_code == 400
    check_answer(response)


def test_the_journal_names_each_operation(client: TestClient) -> None:
    calls = [
        ("POST", "/v1/coupon_reservations/WALLET-5", {"integrationIDs": ["x1"]}),
        ("DELETE", "/v1/coupon_reservations/WALLET-5", {"integrationIDs": ["x1"]}),
        ("GET", "/v1/coupon_reservations/customerprofiles/WALLET-5", None),
        ("POST", "/v1/referrals", {"campaignId": 5, "advocateProfileIntegrationId": "x1"}),
        (
            "POST",
            "/v1/referrals_for_multiple_advocates",
            {"campaignId": 5, "advocateProfileIntegrationIds": ["x1"]},
        ),
        ("POST", "/v2/audiences", {"name": "Journal"}),
        ("PUT", "/v2/audiences/3", {"name": "Journal 2"}),
        ("PUT", "/v2/audience_customers/3/attributes", {}),
        ("POST", "/v2/customer_audiences", {"data": []}),
        ("DELETE", "/v2/audiences/3/memberships", None),
        ("DELETE", "/v2/audiences/3", None),
        ("GET", "/v1/customer_profiles/x1/inventory", None),
        ("DELETE", "/v1/customer_data/x1", None),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=HEADERS)
        assert response.status_code < 300, (path, response.text)
    entries = client.get("/__admin/requests?tenant=default&api=talonone").json()["requests"]
    operations = {entry["operation"] for entry in entries}
    assert operations >= {
        "CreateCouponReservation",
        "DeleteCouponReservation",
        "GetReservedCustomers",
        "CreateReferral",
        "CreateReferralsForMultipleAdvocates",
        "CreateAudienceV2",
        "UpdateAudienceV2",
        "UpdateAudienceCustomersAttributes",
        "UpdateCustomerProfileAudiences",
        "DeleteAudienceMembershipsV2",
        "DeleteAudienceV2",
        "GetCustomerInventory",
        "DeleteCustomerData",
    }
