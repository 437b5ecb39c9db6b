"""The request surface the fuzz tests attack: every operation of the four APIs and of the admin
API, each as a valid request (against the `default` fixtures) with its slots named.

A `Operation` is the valid request; `tests/fuzz/hostile.py` turns it into hostile ones by
replacing one slot (a path parameter, a query parameter, a body value, a header) at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.conftest import DEFAULT_CREDENTIALS

TALON_AUTH = DEFAULT_CREDENTIALS["talonone"]
ECDP_AUTH = DEFAULT_CREDENTIALS["ecdp"]
CG_AUTH = DEFAULT_CREDENTIALS["customergauge"]
CT_FIELDS = DEFAULT_CREDENTIALS["clienttoolbox"]


@dataclass(frozen=True)
class Operation:
    """One valid request. `path` holds `{name}` slots filled from `path_values`; `body` is a
    JSON value (kind "json"), form fields (kind "form") or text (kind "xml")."""

    api: str  # talonone, ecdp, customergauge, clienttoolbox, admin
    name: str
    method: str
    path: str
    path_values: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    kind: str | None = None  # json, form, xml
    headers: dict[str, str] = field(default_factory=dict)


def talon(name: str, method: str, path: str, body: Any = None, **values: Any) -> Operation:
    query = values.pop("query", {})
    return Operation(
        "talonone",
        name,
        method,
        path,
        values,
        query,
        body,
        "json" if body is not None else None,
        dict(TALON_AUTH),
    )


SESSION_BODY = {
    "customerSession": {
        "profileId": "customer-1",
        "state": "open",
        "cartItems": [
            {"sku": "SKU-SHOE-1", "quantity": 2, "price": 80, "attributes": {"Color": "red"}},
            {"sku": "SKU-SOCK-1", "quantity": 1, "additionalCosts": {"wrap": {"price": 1.5}}},
        ],
        "additionalCosts": {"shipping": {"price": 4.5}},
        "couponCodes": ["WELCOME-5"],
        "referralCode": "ADA-FRIENDS",
        "attributes": {"ShippingCity": "Berlin", "GiftWrap": True},
        "evaluableCampaignIds": [1, 2],
        "loyaltyCards": ["CARD-0001"],
    },
    "responseContent": ["customerSession", "customerProfile", "loyalty"],
}

TALONONE = [
    talon(
        "UpdateCustomerSessionV2",
        "PUT",
        "/v2/customer_sessions/{id}",
        SESSION_BODY,
        id="fuzz-session-1",
        query={"dry": "false"},
    ),
    talon("GetCustomerSession", "GET", "/v2/customer_sessions/{id}", id="fuzz-session-1"),
    talon("ReopenCustomerSession", "PUT", "/v2/customer_sessions/{id}/reopen", id="fuzz-session-1"),
    talon(
        "ReturnCartItems",
        "POST",
        "/v2/customer_sessions/{id}/returns",
        {"return": {"returnedCartItems": [{"position": 0, "quantity": 1}]}},
        id="fuzz-session-1",
        query={"dry": "true", "runRuleEngine": "true"},
    ),
    talon(
        "UpdateCustomerProfileV2",
        "PUT",
        "/v2/customer_profiles/{id}",
        {
            "attributes": {"Name": "Fuzz", "Age": 42, "BirthDate": "1990-01-01T00:00:00Z"},
            "responseContent": ["customerProfile"],
        },
        id="customer-1",
        query={"runRuleEngine": "true", "dry": "false"},
    ),
    talon(
        "UpdateCustomerProfilesV2",
        "PUT",
        "/v2/customer_profiles",
        {"customerProfiles": [{"integrationId": "fuzz-bulk-1", "attributes": {"Age": 7}}]},
        query={"silent": "no"},
    ),
    talon(
        "TrackEventV2",
        "POST",
        "/v2/events",
        {
            "profileId": "customer-1",
            "type": "review_submitted",
            "attributes": {"Rating": 5, "Comment": "fine"},
        },
        query={"silent": "no", "dry": "false"},
    ),
    talon(
        "SyncCatalog",
        "PUT",
        "/v1/catalogs/{id}/sync",
        {
            "actions": [
                {"type": "ADD", "payload": {"sku": "FUZZ-1", "price": 3, "replaceIfExists": True}}
            ]
        },
        id="1",
    ),
    talon(
        "CreateCouponReservation",
        "POST",
        "/v1/coupon_reservations/{id}",
        {"integrationIDs": ["customer-3"]},
        id="WALLET-5",
    ),
    talon(
        "DeleteCouponReservation",
        "DELETE",
        "/v1/coupon_reservations/{id}",
        {"integrationIDs": ["customer-3"]},
        id="WALLET-5",
    ),
    talon(
        "GetReservedCustomers",
        "GET",
        "/v1/coupon_reservations/customerprofiles/{id}",
        id="VIP-RESERVED-5",
    ),
    talon(
        "CreateReferral",
        "POST",
        "/v1/referrals",
        {"campaignId": 5, "advocateProfileIntegrationId": "customer-1", "usageLimit": 3},
    ),
    talon(
        "CreateReferralsForMultipleAdvocates",
        "POST",
        "/v1/referrals_for_multiple_advocates",
        {
            "campaignId": 5,
            "advocateProfileIntegrationIds": ["customer-1", "customer-2"],
            "usageLimit": 1,
        },
        query={"silent": "no"},
    ),
    talon(
        "CreateAudienceV2",
        "POST",
        "/v2/audiences",
        {"name": "Fuzzers", "integration": "mparticle", "integrationId": "fuzz-aud"},
    ),
    talon("UpdateAudienceV2", "PUT", "/v2/audiences/{id}", {"name": "VIP"}, id="1"),
    talon("DeleteAudienceMembershipsV2", "DELETE", "/v2/audiences/{id}/memberships", id="2"),
    talon("DeleteAudienceV2", "DELETE", "/v2/audiences/{id}", id="99"),
    talon(
        "UpdateAudienceCustomersAttributes",
        "PUT",
        "/v2/audience_customers/{id}/attributes",
        {"Tier": "gold", "Age": 3},
        id="1",
    ),
    talon(
        "UpdateCustomerProfileAudiences",
        "POST",
        "/v2/customer_audiences",
        {"data": [{"profileIntegrationId": "customer-2", "audienceId": 1, "action": "add"}]},
    ),
    talon("DeleteCustomerData", "DELETE", "/v1/customer_data/{id}", id="fuzz-nobody"),
    talon(
        "GetCustomerInventory",
        "GET",
        "/v1/customer_profiles/{id}/inventory",
        id="customer-1",
        query={"profile": "true", "coupons": "true", "referrals": "true", "loyalty": "true"},
    ),
    talon(
        "GetLoyaltyBalances",
        "GET",
        "/v1/loyalty_programs/{program}/profile/{id}/balances",
        program="1",
        id="loyalty-demo-1",
        query={"includeTiers": "true", "endDate": "2030-01-01T00:00:00Z", "subledgerId": "food"},
    ),
    talon(
        "GetLoyaltyProgramProfilePoints",
        "GET",
        "/v1/loyalty_programs/{program}/profile/{id}/points",
        program="1",
        id="loyalty-demo-1",
        query={"status": "active", "pageSize": "10", "skip": "0", "sort": "startDate"},
    ),
    talon(
        "GetLoyaltyProgramProfileTransactions",
        "GET",
        "/v1/loyalty_programs/{program}/profile/{id}/transactions",
        program="1",
        id="loyalty-demo-1",
        query={
            "pageSize": "10",
            "skip": "0",
            "startDate": "2020-01-01T00:00:00Z",
            "loyaltyTransactionType": "import",
        },
    ),
    talon(
        "GenerateLoyaltyCard",
        "POST",
        "/v1/loyalty_programs/{program}/cards",
        {"status": "active", "customerProfileIds": ["customer-2"]},
        program="3",
    ),
    talon(
        "LinkLoyaltyCardToProfile",
        "POST",
        "/v2/loyalty_programs/{program}/cards/{card}/link_profile",
        {"integrationId": "customer-3"},
        program="3",
        card="CARD-0002",
    ),
    talon(
        "GetLoyaltyCardBalances",
        "GET",
        "/v1/loyalty_programs/{program}/cards/{card}/balances",
        program="3",
        card="CARD-0001",
        query={"endDate": "2030-01-01T00:00:00Z"},
    ),
    talon(
        "GetLoyaltyCardPoints",
        "GET",
        "/v1/loyalty_programs/{program}/cards/{card}/points",
        program="3",
        card="CARD-0001",
        query={"pageSize": "10", "skip": "0"},
    ),
    talon(
        "GetLoyaltyCardTransactions",
        "GET",
        "/v1/loyalty_programs/{program}/cards/{card}/transactions",
        program="3",
        card="CARD-0001",
        query={"pageSize": "10", "skip": "0"},
    ),
]


def ecdp(name: str, method: str, path: str, body: Any = None, **values: str) -> Operation:
    return Operation(
        "ecdp",
        name,
        method,
        path,
        values,
        {},
        body,
        "json" if body is not None else None,
        dict(ECDP_AUTH),
    )


ECDP = [
    ecdp(
        "PostCustomers",
        "POST",
        "/customers",
        {
            "mode": "AddOrUpdate",
            "matchBy": "Email",
            "data": [
                {
                    "email": "fuzz@example.com",
                    "firstName": "Fuzz",
                    "phone": "48111222333",
                    "crmId": "CRM-FUZZ",
                    "dateOfBirth": "1990-01-02",
                    "gender": "Female",
                    "customAttributes": [
                        {"name": "shoeSize", "value": "42"},
                        {"name": "creditLimit", "value": "100.50"},
                        {"name": "loyaltyTier", "value": "Silver"},
                    ],
                    "consentsData": {"consents": [{"id": 1, "value": "AwaitingConfirmation"}]},
                }
            ],
        },
    ),
    ecdp("GetCustomerById", "GET", "/customers/id/{id}", id="1"),
    ecdp("GetCustomerByEmail", "GET", "/customers/email/{id}", id="adam@example.com"),
    ecdp("GetCustomerByPhone", "GET", "/customers/phone/{id}", id="48123456789"),
    ecdp("GetCustomerByCrmId", "GET", "/customers/crmId/{id}", id="CRM-0001"),
    ecdp("GetCustomerAttributes", "GET", "/customerattributes"),
    ecdp("GetCustomerConsents", "GET", "/customerconsents"),
]

CG_RECORDS = (
    "<?xml version='1.0' encoding='utf-8'?><records><record><Email>fuzz@example.com</Email>"
    "<FirstName>Fuzz</FirstName><order_date>2026-01-02 10:00:00</order_date></record></records>"
)


def cg(name: str, method: str, path: str, body: Any = None, kind: str | None = None, **query: str):
    return Operation("customergauge", name, method, path, {}, query, body, kind, dict(CG_AUTH))


CUSTOMERGAUGE = [
    cg("StreamTransactional", "POST", "/v4.1/stream/transactional.json", CG_RECORDS, "xml"),
    cg("StreamTransactionalXml", "POST", "/v4.1/stream/transactional.xml", CG_RECORDS, "xml"),
    cg(
        "FileTransactional",
        "GET",
        "/v4.1/file/transactional.json",
        id="1",
        start="0",
        limit="10",
        date_range_from="2020-01-01",
        date_range_to="2030-01-01 10:00:00",
    ),
    cg("GetUnsubscribe", "GET", "/v4.1/lists/unsubscribe.xml", start="0", limit="5"),
    cg(
        "PostUnsubscribe",
        "POST",
        "/v4.1/lists/unsubscribe.json",
        {"email": "fuzz-unsub@example.com"},
        "form",
    ),
    cg("GetBounce", "GET", "/v4.1/lists/bounce.json", date_range_from="2020-01-01"),
    Operation(
        "customergauge",
        "OAuth2Token",
        "POST",
        "/oauth2/token",
        body={
            "grant_type": "client_credentials",
            "client_id": "cg-client-default",
            "client_secret": "cg-secret-default",
        },
        kind="form",
    ),
]


def ct(name: str, **fields: str) -> Operation:
    return Operation(
        "clienttoolbox", name, "POST", "/api.php", body={**CT_FIELDS, **fields}, kind="form"
    )


CLIENTTOOLBOX = [
    ct(
        "batch_transactions",
        type="batch_transactions",
        delimiter="pipe",
        apply_ratio="yes",
        **{"allow-undo": "yes"},
        visits_header_1="campaign_id",
        visits_header_2="code",
        visits_header_3="redeemed",
        visits_header_4="amount",
        visits_header_5="date",
        visits_header_6="custom_field_3",
        Visits_Data="4638472975924871|12121|N|14,95|2010-03-15|fuzz\n"
        "4638472975924871|12121|Y|1500|2010-03-15|fuzz redeem\n",
    ),
    ct(
        "customers_batch",
        type="customers_batch",
        delimiter="pipe",
        overwrite_duplicates="update",
        card_number_generate="16",
        campaigns_to_include="4638472975924871",
        profiles_header_1="code",
        profiles_header_2="first_name",
        profiles_header_3="email",
        profiles_header_4="custom_field_1",
        Profiles_Data="fuzz-1|Fuzz|fuzz@example.com|\n",
    ),
    ct("manage_fields", type="manage_fields", action="list", output="JSON"),
    ct(
        "campaigns_list",
        type="campaigns_list",
        type_restrict="points",
        searchField="campaign_name",
        searchOper="cn",
        searchValue="o",
        sortField="campaign_id",
        sortOrder="DESC",
        offset="0",
        length="5",
    ),
    ct("campaign_rewards", type="campaign_rewards", campaign_id="4638472975924871"),
    ct("customer_find", type="customer_find", find_customer="12121", include_balances="Y"),
    ct("customer_search", type="customer_search", first_name="a", exact_match="N"),
    ct(
        "reports",
        type="reports",
        report="customers_balances",
        campaign_id="4638472975924871",
        offset="0",
        limit="10",
        output="JSON",
    ),
]


def admin(name: str, method: str, path: str, body: Any = None, **values: Any) -> Operation:
    query = values.pop("query", {})
    values.setdefault("tenant", "default")
    return Operation(
        "admin", name, method, path, values, query, body, "json" if body is not None else None
    )


TENANT = "/__admin/tenants/{tenant}"

ADMIN = [
    admin(
        "CreateTenant",
        "POST",
        "/__admin/tenants",
        {
            "name": "fuzz",
            "fixtures": {
                "ecdp": {"customers": [{"id": 1, "email": "f@example.com", "totalSpent": 12.5}]},
                "customergauge": {"worker_paused": True, "send_delay_seconds": 0},
            },
        },
    ),
    admin("GetTenant", "GET", TENANT),
    admin("ExportFixtures", "GET", f"{TENANT}/fixtures"),
    admin("GetQuotas", "GET", f"{TENANT}/quotas"),
    admin(
        "PutQuotas",
        "PUT",
        f"{TENANT}/quotas",
        {"requestsPerSecond": None, "records": None, "journalEntries": None},
    ),
    admin("GetClock", "GET", f"{TENANT}/clock"),
    admin(
        "ListRequests",
        "GET",
        "/__admin/requests",
        query={
            "tenant": "default",
            "api": "talonone",
            "method": "GET",
            "status": "200",
            "limit": "5",
        },
    ),
    admin(
        "ListUnmatchedRequests",
        "GET",
        "/__admin/requests/unmatched",
        query={"tenant": "default", "api": "talonone", "status": "4xx", "limit": "5"},
    ),
    admin(
        "CountRequests",
        "POST",
        "/__admin/requests/count",
        {
            "tenant": "default",
            "api": "talonone",
            "operation": "GetCustomerSession",
            "pathPattern": "/v2/customer_sessions/*",
            "status": "2xx",
            "since": "2026-01-01T00:00:00Z",
            "body": [
                {"jsonPath": "$.customerSession.cartItems[*].sku", "contains": "SKU"},
                {"form": "type", "equals": "reports"},
                {"xml": "record/Email", "equals": "a@example.com"},
            ],
        },
    ),
    admin(
        "FindRequests",
        "POST",
        "/__admin/requests/find",
        {"operation": "PostCustomers", "path": "/customers", "status": 201, "limit": 10},
    ),
    admin("ListFaults", "GET", "/__admin/faults", query={"tenant": "default"}),
    admin("GetFault", "GET", "/__admin/faults/{id}", id="1"),
    admin("DeleteFault", "DELETE", "/__admin/faults/{id}", id="999"),
    admin(
        "AddFault",
        "POST",
        "/__admin/faults",
        {"tenant": "default", "api": "ecdp", "path": "/nowhere", "count": 1, "error": 503},
    ),
    admin("CtUndoStates", "GET", f"{TENANT}/clienttoolbox/undo-states"),
    admin("CtUndoState", "GET", f"{TENANT}/clienttoolbox/undo-states/{{id}}", id="1"),
    admin("CtUndo", "POST", f"{TENANT}/clienttoolbox/undo-states/{{id}}/undo", id="999"),
    admin("CtCustomer", "GET", f"{TENANT}/clienttoolbox/customers/{{id}}", id="12121"),
    admin(
        "CgUploads",
        "GET",
        f"{TENANT}/customergauge/uploads",
        query={"status": "Queued", "start": "0", "limit": "10"},
    ),
    admin("CgUpload", "GET", f"{TENANT}/customergauge/uploads/{{id}}", id="1"),
    admin(
        "CgMailQueue",
        "GET",
        f"{TENANT}/customergauge/mail-queue",
        query={
            "status": "sent",
            "email": "a@example.com",
            "upload": "1",
            "start": "0",
            "limit": "9",
        },
    ),
    admin("CgWorker", "GET", f"{TENANT}/customergauge/worker"),
    admin(
        "CgBounce",
        "POST",
        f"{TENANT}/customergauge/bounces",
        {"email": "fuzz-bounce@example.com", "reason": "550 no such user"},
    ),
    admin("EcdpConfirmations", "GET", f"{TENANT}/ecdp/confirmations", query={"customerId": "1"}),
    admin("EcdpConfirm", "POST", f"{TENANT}/ecdp/confirmations/{{id}}/confirm", id="999"),
    admin(
        "TalonSessions",
        "GET",
        f"{TENANT}/talonone/sessions",
        query={"profileId": "customer-1", "state": "open"},
    ),
    admin(
        "TalonEvents",
        "GET",
        f"{TENANT}/talonone/events",
        query={"profileId": "customer-1", "type": "review_submitted"},
    ),
    admin("TalonCampaigns", "GET", f"{TENANT}/talonone/campaigns"),
    admin("TalonPrograms", "GET", f"{TENANT}/talonone/loyalty/programs"),
    admin(
        "TalonManualPoints",
        "POST",
        f"{TENANT}/talonone/loyalty/programs/{{id}}/points",
        {"profileId": "loyalty-demo-1", "type": "addition", "amount": 5, "name": "fuzz"},
        id="1",
    ),
]

# The clock's own range checks are issue 19 item 2 (another change); its routes are fuzzed
# separately so that they can be expected to fail until that change is in.
ADMIN_CLOCK = [
    admin("PutClock", "PUT", f"{TENANT}/clock", {"now": "2030-01-01T00:00:00Z", "frozen": True}),
    admin("AdvanceClock", "POST", f"{TENANT}/clock/advance", {"days": 1, "hours": 2}),
]

API_OPERATIONS = {
    "talonone": TALONONE,
    "ecdp": ECDP,
    "customergauge": CUSTOMERGAUGE,
    "clienttoolbox": CLIENTTOOLBOX,
}
