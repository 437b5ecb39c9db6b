"""Tenant isolation: every API operation, enumerated from the app, called with tenant B's
credentials on tenant A's ids, shows none of A's data and changes none of it.

A is the default world plus data only A wrote, each piece carrying a marker; B is the default
world too, so the same ids exist on both sides (B finds its own objects, never A's). A response
to B leaks when it holds one of A's markers that B's own request did not carry (an id echoed in
a 404 is no leak). Afterwards A's export is what it was.
"""

from __future__ import annotations

import json
import time
from typing import Any

from simulator.clienttoolbox.routes import HANDLERS
from tests.security.conftest import RouteCall, api_calls

# In A's data only (names, attributes): never in a request of B's.
MARK = "zq-private-of-a"
# A's ids: B's requests name them.
EMAIL = "a-only-7f3@example.com"
PHONE = "+48999000111"
CRM = "CRM-A-ONLY-7F3"
SESSION = "session-a-only-7f3"
PROFILE = "profile-a-only-7f3"
CT_CODE = "990011223344"
UNSUBSCRIBED = "unsub-a-only-7f3@example.com"


def api_headers(tenant: dict, api: str) -> dict[str, str]:
    credentials = tenant["credentials"]
    if api == "customergauge":
        return {"Authorization": f"api_key {credentials['customergauge']['api_key']}"}
    if api == "talonone":
        return {"Authorization": f"ApiKey-v1 {credentials['talonone']['api_key']}"}
    if api == "ecdp":
        return {"x-api-key": credentials["ecdp"]["api_key"]}
    return {}


def ct_fields(tenant: dict, **fields: str) -> dict[str, str]:
    return {"API": "1.5", "output": "JSON", **tenant["credentials"]["clienttoolbox"], **fields}


def write_private_data(client: Any, a: dict) -> dict[str, str]:
    """Data only A has, through A's own credentials; returns the ids it was given."""
    talon = api_headers(a, "talonone")
    session = {
        "customerSession": {
            "profileId": PROFILE,
            "state": "closed",
            "attributes": {"ShippingCity": MARK},
            "cartItems": [{"name": MARK, "sku": "SKU-SHOE-1", "quantity": 2, "price": 80}],
        }
    }
    put = client.put(f"/v2/customer_sessions/{SESSION}", json=session, headers=talon)
    assert put.status_code == 200, put.text
    profile = {"attributes": {"Name": MARK, "Email": f"{MARK}@example.com"}}
    assert client.put(f"/v2/customer_profiles/{PROFILE}", json=profile, headers=talon).is_success
    card = client.post(
        "/v1/loyalty_programs/3/cards", json={"customerProfileIds": [PROFILE]}, headers=talon
    )
    assert card.status_code == 200, card.text
    reserve = {"integrationIDs": [PROFILE]}
    assert client.post("/v1/coupon_reservations/WELCOME-5", json=reserve, headers=talon).is_success
    audience = client.post(
        "/v2/audiences",
        json={"name": f"audience {MARK}", "integration": "mparticle", "integrationId": MARK},
        headers=talon,
    )
    assert audience.status_code in (200, 201), audience.text
    ecdp = {
        "mode": "AddOrUpdate",
        "matchBy": "Email",
        "data": [{"email": EMAIL, "phone": PHONE, "crmId": CRM, "firstName": MARK}],
    }
    assert client.post("/customers", json=ecdp, headers=api_headers(a, "ecdp")).is_success
    ecdp_id = client.get(f"/customers/email/{EMAIL}", headers=api_headers(a, "ecdp")).json()
    batch = ct_fields(
        a,
        type="customers_batch",
        delimiter="pipe",
        profiles_header_1="code",
        profiles_header_2="first_name",
        profiles_header_3="email",
        campaigns_to_include="4638472975924871",
        Profiles_Data=f"{CT_CODE}|{MARK}|{EMAIL}\n",
    )
    assert client.post("/api.php", data=batch).status_code == 200
    cg = api_headers(a, "customergauge")
    record = f"<record><Email>{EMAIL}</Email><FirstName>{MARK}</FirstName></record>"
    upload = client.post(
        "/v4.1/stream/transactional.json", content=f"<records>{record}</records>", headers=cg
    )
    assert upload.status_code == 200, upload.text
    settle_stream_queue(client, a)
    unsubscribe = client.post(
        "/v4.1/lists/unsubscribe.json", data={"email": UNSUBSCRIBED}, headers=cg
    )
    assert unsubscribe.status_code == 200, unsubscribe.text
    return {
        "card": card.json()["identifier"],
        "audience": str(audience.json()["id"]),
        "ecdp_id": str(ecdp_id["data"]["id"]),
        "upload": upload.headers["x-upload-id"],
    }


def path_values(ids: dict[str, str]) -> dict[str, str]:
    return {
        "customerSessionId": SESSION,
        "integrationId": PROFILE,
        "loyaltyProgramId": "3",
        "loyaltyCardId": ids["card"],
        "couponValue": "WELCOME-5",
        "audienceId": ids["audience"],
        "catalogId": "1",
        "achievementId": "1",
        "id": ids["ecdp_id"],
        "email": EMAIL,
        "phone": PHONE,
        "crmId": CRM,
        "rest": f"file/transactional.json?id={ids['upload']}",
    }


def talon_body(call: RouteCall, ids: dict[str, str]) -> Any:
    """A body B could send naming A's objects."""
    if call.template == "/v2/customer_sessions/{customerSessionId}":
        return {"customerSession": {"profileId": PROFILE, "state": "open"}}
    if call.template.endswith("/returns"):
        return {"return": {"returnedCartItems": [{"position": 0, "quantity": 1}]}}
    if "customer_profiles" in call.template:
        if call.template.endswith("customer_profiles"):
            return {"customerProfiles": [{"integrationId": PROFILE, "attributes": {"Age": 1}}]}
        return {"attributes": {"Age": 1}}
    if call.template == "/v2/events":
        return {"profileId": PROFILE, "type": "points_redeemed", "attributes": {}}
    if call.template.endswith("/cards"):
        return {"customerProfileIds": [PROFILE]}
    if call.template.endswith("/link_profile"):
        return {"integrationId": PROFILE}
    if "coupon_reservations" in call.template:
        return {"integrationIDs": [PROFILE]}
    if "referrals" in call.template:
        return {"campaignId": 5, "advocateProfileIntegrationId": PROFILE}
    if "audience" in call.template:
        return [{"profileIntegrationId": PROFILE, "audienceId": int(ids["audience"])}]
    if call.template.endswith("/sync"):
        return {"actions": [{"type": "REMOVE", "payload": {"sku": "SKU-SHOE-1"}}]}
    return {}


def requests_for(call: RouteCall, b: dict, ids: dict[str, str]) -> list[dict[str, Any]]:
    """The requests B sends for one operation (ClientToolbox: one per `type`)."""
    values = path_values(ids)
    path = call.template
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    if "{" in path:
        raise AssertionError(f"no value for a path parameter of {call}: add it to path_values")
    if call.api == "clienttoolbox":
        found = {
            "find_customer": EMAIL,
            "search_field": "email",
            "search_value": EMAIL,
            "campaign_id": "4638472975924871",
            "report": "customers_balances",
            "action": "list",
        }
        return [
            {"method": call.method, "url": path, "data": ct_fields(b, type=kind, **found)}
            for kind in HANDLERS
        ]
    request: dict[str, Any] = {"method": call.method, "url": path}
    request["headers"] = api_headers(b, call.api)
    if call.api == "customergauge":
        if "/file/" in path:
            request["params"] = {"id": ids["upload"]}
        elif call.method == "POST" and "/lists/" in path:
            request["data"] = {"email": UNSUBSCRIBED}
        elif call.method == "POST":
            request["content"] = f"<records><record><Email>{EMAIL}</Email></record></records>"
    elif call.api == "ecdp" and call.method == "POST":
        request["json"] = {"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": EMAIL}]}
    elif call.api == "talonone" and call.method != "GET":
        request["json"] = talon_body(call, ids)
    return [request]


def carried(request: dict[str, Any]) -> str:
    return json.dumps(request, default=str)


def settle_stream_queue(client: Any, tenant: dict) -> None:
    """A's queue processed before its state is compared: the server's worker may otherwise
    process the upload between the two reads (seen on a loaded machine)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        client.post(f"/__admin/tenants/{tenant['id']}/customergauge/process")
        document = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()
        uploads = document.get("customergauge", {}).get("uploads", [])
        if uploads and all(upload["status"] != "Queued" for upload in uploads):
            return
        time.sleep(0.1)
    raise AssertionError("tenant A's upload was never processed")


def test_no_operation_shows_or_changes_another_tenants_data(client: Any, new_tenant) -> None:
    a = new_tenant(fixtures="default")
    b = new_tenant(fixtures="default")
    ids = write_private_data(client, a)
    markers = [MARK, EMAIL, PHONE, CRM, SESSION, PROFILE, CT_CODE, UNSUBSCRIBED, ids["card"]]
    a_before = client.get(f"/__admin/tenants/{a['id']}/fixtures").json()
    # Reads first: once B has written a value of A's (its own copy), B may read it back.
    calls = sorted(api_calls(client.app), key=lambda call: call.method != "GET")
    assert {call.api for call in calls} == {"customergauge", "clienttoolbox", "talonone", "ecdp"}
    leaks, errors, asked = [], [], ""
    for call in calls:
        for request in requests_for(call, b, ids):
            response = client.request(**request)
            if response.status_code >= 500:
                errors.append(f"{call}: {response.status_code} {response.text[:200]}")
            asked += carried(request)
            for marker in markers:
                if marker in response.text and marker not in asked:
                    leaks.append(f"{call} {request.get('data', {}).get('type', '')}: {marker}")
    assert leaks == []
    assert errors == []
    assert MARK not in asked  # B named A's ids, never A's data
    # Nothing B did reached A.
    a_after = client.get(f"/__admin/tenants/{a['id']}/fixtures").json()
    assert a_after == a_before
    # And A's data is all still A's to read.
    reread = client.get(f"/customers/email/{EMAIL}", headers=api_headers(a, "ecdp"))
    assert reread.json()["data"]["firstName"] == MARK
