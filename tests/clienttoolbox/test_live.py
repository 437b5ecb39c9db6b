"""Against a real `simulator serve` process: the docs' examples over HTTP, both form encodings."""

from __future__ import annotations

import httpx
import xmltodict

from tests.clienttoolbox.helpers import tenant_credentials
from tests.clienttoolbox.test_docs_examples import CUSTOMERS_EXAMPLE, TRANSACTIONS_EXAMPLE


def test_examples_over_http(live_server) -> None:
    tenant = live_server.new_tenant()
    credentials = tenant_credentials(tenant)
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        first = http.post("/", data={**credentials, **CUSTOMERS_EXAMPLE})
        assert first.status_code == 200
        batch = xmltodict.parse(first.text)["response"]["batch"]
        assert (batch["customers"]["new"], batch["customers"]["updated"]) == ("2", "1")
        multipart = {k: (None, v) for k, v in {**credentials, **TRANSACTIONS_EXAMPLE}.items()}
        second = http.post(
            "/api.php", files=multipart, headers={"api_access_key": credentials["user_api_key"]}
        )
        assert second.status_code == 200
        assert xmltodict.parse(second.text)["response"]["batch"]["transactions"] == "7"
        report = http.get(
            "/",
            params={
                **credentials,
                "type": "reports",
                "report": "customers_balances",
                "campaign_id": "4638472975924871",
                "output": "JSON",
            },
        )
        assert report.json()["customers"]["customer"][0]["balance"] == 1014.35
        unauthorised = http.post("/", data={**credentials, "user_api_key": "x", "type": "reports"})
        assert unauthorised.status_code == 401
        assert xmltodict.parse(unauthorised.text)["response"]["@status"] == "error"
