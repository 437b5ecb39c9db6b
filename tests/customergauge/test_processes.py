"""Two real server processes on one store: every upload is processed exactly once, in arrival
order per tenant, whichever process accepted it and whichever worker claimed it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import live_database_url, start_server, stop_server
from tests.customergauge.helpers import ADMIN, STREAM, records_xml

UPLOADS = 30
RECORDS = 5


def test_two_processes_claim_each_upload_once_and_in_order(tmp_path: Path) -> None:
    database_url = live_database_url(tmp_path, "sim_cg_two")
    first = start_server(database_url, args=["--fixtures", "none"])
    second = start_server(database_url, args=["--fixtures", "none"])
    try:
        tenants = [first.new_tenant({"customergauge": {}}) for _ in range(3)]
        with httpx.Client(timeout=30) as http:
            for n in range(UPLOADS):
                server = (first, second)[n % 2]
                tenant = tenants[n % 3]
                key = tenant["credentials"]["customergauge"]["api_key"]
                document = records_xml(
                    *({"Email": f"u{n}-{r}@example.com"} for r in range(RECORDS))
                )
                response = http.post(
                    server.url + STREAM,
                    content=document.encode(),
                    headers={"Authorization": f"api_key {key}"},
                )
                assert response.json() == {"Data": True}

            def states() -> list[dict]:
                found = []
                for tenant in tenants:
                    url = first.url + ADMIN.format(tenant=tenant["id"]) + "/uploads"
                    found.append(http.get(url).json()["uploads"])
                return found

            deadline = time.monotonic() + 60
            while any(u["status"] != "Processed" for per in states() for u in per):
                assert time.monotonic() < deadline, states()
                time.sleep(0.05)

            for tenant, per_tenant in zip(tenants, states(), strict=True):
                assert [u["id"] for u in per_tenant] == list(range(1, UPLOADS // 3 + 1))
                assert all(u["attempts"] == 1 for u in per_tenant)
                processed = [u["processed"] for u in per_tenant]
                assert processed == sorted(processed)  # arrival order within the tenant
                url = second.url + ADMIN.format(tenant=tenant["id"]) + "/mail-queue"
                mails = http.get(url).json()["mails"]
                keys = [(m["upload"], m["record"]) for m in mails]
                assert len(keys) == len(set(keys)) == (UPLOADS // 3) * RECORDS
    finally:
        stop_server(first)
        stop_server(second)
