"""Every API written through one process is read through the other (one shared database)."""

from __future__ import annotations

import httpx
import xmltodict

from tests.conftest import LiveServer

SESSION = "/v2/customer_sessions/{id}"
BALANCES = "/v1/loyalty_programs/1/profile/{id}/balances"


def talon_headers(tenant: dict) -> dict[str, str]:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def test_customergauge_upload_through_one_processed_and_read_through_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    tenant = first.new_tenant()
    admin = f"/__admin/tenants/{tenant['id']}/customergauge"
    key = tenant["credentials"]["customergauge"]["api_key"]
    # This test drives processing itself: the workers of both processes stand still.
    assert httpx.post(f"{second.url}{admin}/worker/pause").status_code == 200
    document = (
        "<?xml version='1.0' encoding='utf-8'?><records>"
        "<record><Email>one@example.com</Email><first_name>One</first_name></record>"
        "<record><Email>two@example.com</Email><first_name>Two</first_name></record>"
        "</records>"
    )
    with httpx.Client(timeout=30) as http:
        accepted = http.post(
            f"{first.url}/v4.1/stream/transactional.json",
            content=document.encode(),
            headers={"Authorization": f"api_key {key}", "Content-Type": "application/xml"},
        )
        assert accepted.status_code == 200 and accepted.json() == {"Data": True}
        queued = http.get(f"{second.url}{admin}/uploads").json()["uploads"]
        assert [u["status"] for u in queued] == ["Queued"]
        processed = http.post(f"{second.url}{admin}/process")
        assert processed.status_code == 200, processed.text
        uploads = http.get(f"{second.url}{admin}/uploads").json()["uploads"]
        assert [(u["status"], u["attempts"]) for u in uploads] == [("Processed", 1)]
        mails = http.get(f"{second.url}{admin}/mail-queue").json()["mails"]
        assert sorted(m["email"] for m in mails) == ["one@example.com", "two@example.com"]
        assert http.get(f"{first.url}{admin}/uploads").json()["uploads"] == uploads
    httpx.post(f"{first.url}{admin}/worker/resume")


def test_clienttoolbox_batches_through_one_found_and_reported_through_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    tenant = first.new_tenant()
    credentials = {"API": "1.5", **tenant["credentials"]["clienttoolbox"]}
    with httpx.Client(timeout=30) as http:
        customers = http.post(
            f"{first.url}/",
            data={
                **credentials,
                "type": "customers_batch",
                "delimiter": "comma",
                "overwrite_duplicates": "update",
                "campaigns_to_include": "4638472975924871",
                "profiles_header_1": "code",
                "profiles_header_2": "first_name",
                "profiles_header_3": "last_name",
                "Profiles_Data": "\n90001,Zelda,Crossproc\n90002,Yannick,Crossproc\n",
            },
        )
        batch = xmltodict.parse(customers.text)["response"]["batch"]
        assert batch["customers"]["new"] == "2", customers.text
        transactions = http.post(
            f"{first.url}/api.php",
            data={
                **credentials,
                "type": "batch_transactions",
                "delimiter": "comma",
                "apply_ratio": "no",
                "visits_header_1": "campaign_id",
                "visits_header_2": "code",
                "visits_header_3": "redeemed",
                "visits_header_4": "amount",
                "Visits_Data": "\n4638472975924871,90001,N,70\n4638472975924871,90002,N,30\n",
            },
        )
        assert xmltodict.parse(transactions.text)["response"]["batch"]["transactions"] == "2"
        found = http.post(
            f"{second.url}/",
            data={**credentials, "type": "customer_find", "find_customer": "crossproc"},
            params={"output": "JSON"},
        )
        assert found.status_code == 200, found.text
        codes = sorted(c["code"] for c in found.json()["customers"]["customer"])
        assert codes == ["90001", "90002"]
        report = http.get(
            f"{second.url}/",
            params={
                **credentials,
                "type": "reports",
                "report": "customers_balances",
                "campaign_id": "4638472975924871",
                "output": "JSON",
            },
        )
        balances = {c["code"]: c["balance"] for c in report.json()["customers"]["customer"]}
        assert (balances["90001"], balances["90002"]) == (70, 30)


def test_talonone_session_closed_through_one_read_through_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    tenant = first.new_tenant()
    headers = talon_headers(tenant)
    body = {
        "customerSession": {
            "profileId": "customer-2",
            "state": "closed",
            "cartItems": [{"name": "Trail", "sku": "SKU-SHOE-2", "quantity": 1, "price": 120}],
        },
        "responseContent": ["customerSession", "loyalty"],
    }
    with httpx.Client(timeout=30, headers=headers) as http:
        closed = http.put(f"{first.url}{SESSION.format(id='cross-1')}", json=body)
        assert closed.status_code == 200, closed.text
        read = http.get(f"{second.url}{SESSION.format(id='cross-1')}")
        assert read.status_code == 200, read.text
        session = read.json()["customerSession"]
        assert (session["state"], session["profileId"]) == ("closed", "customer-2")
        assert session["total"] == 120
        balances = http.get(f"{second.url}{BALANCES.format(id='customer-2')}")
        assert balances.status_code == 200, balances.text
        assert balances.json()["balance"]["activePoints"] == 120  # campaign 3: 1 point per EUR
        reserved = http.post(
            f"{first.url}/v1/coupon_reservations/WELCOME-5",
            json={"integrationIDs": ["customer-2", "walk-in-7"]},
        )
        assert reserved.status_code == 201, reserved.text
        holders = http.get(f"{second.url}/v1/coupon_reservations/customerprofiles/WELCOME-5")
        assert holders.status_code == 200, holders.text
        ids = sorted(p["integrationId"] for p in holders.json()["data"])
        assert ids == ["customer-2", "walk-in-7"]


def test_ecdp_customer_posted_through_one_got_by_email_through_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    tenant = first.new_tenant()
    headers = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    body = {
        "mode": "AddOrUpdate",
        "matchBy": "Email",
        "data": [{"email": "cross@example.com", "firstName": "Cross", "crmId": "CRM-X"}],
    }
    with httpx.Client(timeout=30, headers=headers) as http:
        assert http.get(f"{second.url}/customers/email/cross@example.com").status_code == 404
        posted = http.post(f"{first.url}/customers", json=body)
        assert posted.status_code == 201, posted.text
        assert posted.json()["data"] == {"added": 1, "updated": 0}
        found = http.get(f"{second.url}/customers/email/cross@example.com")
        assert found.status_code == 200, found.text
        customer = found.json()["data"]
        assert (customer["firstName"], customer["crmId"]) == ("Cross", "CRM-X")
        by_id = http.get(f"{first.url}/customers/id/{customer['id']}")
        assert by_id.json()["data"]["email"] == "cross@example.com"
        body["data"][0]["firstName"] = "Crossed"
        updated = http.post(f"{second.url}/customers", json=body)
        assert updated.json()["data"] == {"added": 0, "updated": 1}
        again = http.get(f"{first.url}/customers/email/cross@example.com")
        assert again.json()["data"]["firstName"] == "Crossed"
