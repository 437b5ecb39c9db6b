"""ClientToolbox scenarios: 10,000-line customers_batch (new, then updates) and
batch_transactions in one request each, an undo of 10,000 transactions, and a read call under
load. Each batch runs in a tenant of its own (default fixtures), so runs do not interfere."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx

from bench.load import HOST, build_request, run_load

LINES = 10_000
CUSTOMER_HEADERS = [
    "code",
    "card_number",
    "first_name",
    "last_name",
    "email",
    "custom_date",
    "phone",
    "street1",
    "city",
    "postal_code",
    "custom_field_2",
]
FORM = {"content-type": "application/x-www-form-urlencoded"}


def customers_form(credentials: dict, run: int) -> bytes:
    rows = "\n".join(
        f"B{i}|{700000000 + i}|First{i}|Last{i}-{run}|user{i}@example.com|"
        f"2001-01-{1 + i % 28:02d}|555-{i:05d}|{i} Main St|Springfield|{10000 + i}|Store {i % 7}"
        for i in range(LINES)
    )
    fields = {
        **credentials,
        "type": "customers_batch",
        "delimiter": "pipe",
        "overwrite_duplicates": "update",
        "campaigns_to_include": "4638472975924871,13234545",
        "allow_undo": "yes",
        "profiles_data": rows,
    }
    fields.update({f"profiles_header_{i}": n for i, n in enumerate(CUSTOMER_HEADERS, 1)})
    return urlencode(fields).encode()


def transactions_form(credentials: dict) -> bytes:
    rows = "\n".join(
        f"4638472975924871|B{i}|N|{i % 50},{i % 100:02d}|2010-03-15|Till {i % 9}|P{i % 3}"
        for i in range(LINES)
    )
    fields = {
        **credentials,
        "type": "batch_transactions",
        "delimiter": "pipe",
        "apply_ratio": "yes",
        "allow-undo": "yes",
        "Visits_Data": rows,
    }
    headers = ["campaign_id", "code", "redeemed", "amount", "date", "authorization", "promo_id"]
    fields.update({f"visits_header_{i}": n for i, n in enumerate(headers, 1)})
    return urlencode(fields).encode()


async def timed(http: httpx.AsyncClient, name: str, body: bytes, target: str) -> dict:
    started = time.perf_counter()
    response = await http.post("/", content=body, headers=FORM)
    elapsed = (time.perf_counter() - started) * 1000
    ok = response.status_code == 200 and 'status="success"' in response.text
    return {
        "name": name,
        "ms": round(elapsed, 1),
        "status": response.status_code,
        "ok": ok,
        "body bytes": len(body),
        "target": target,
    }


async def run(port: int) -> list[dict]:
    rows = []
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60) as http:
        tenant = (
            await http.post("/__admin/tenants", json={"name": "bench-ct", "fixtures": "default"})
        ).json()
        credentials = {"API": "1.5", **tenant["credentials"]["clienttoolbox"]}
        rows.append(
            await timed(
                http,
                f"clienttoolbox: customers_batch {LINES:,} lines (new)",
                customers_form(credentials, 0),
                "< 2000 ms",
            )
        )
        rows.append(
            await timed(
                http,
                f"clienttoolbox: customers_batch {LINES:,} lines (updates)",
                customers_form(credentials, 1),
                "< 2000 ms",
            )
        )
        rows.append(
            await timed(
                http,
                f"clienttoolbox: batch_transactions {LINES:,} lines",
                transactions_form(credentials),
                "< 2000 ms",
            )
        )
        states = await http.get(f"/__admin/tenants/{tenant['id']}/clienttoolbox/undo-states")
        latest = states.json()["undoStates"][0]["id"]
        started = time.perf_counter()
        undone = await http.post(
            f"/__admin/tenants/{tenant['id']}/clienttoolbox/undo-states/{latest}/undo"
        )
        rows.append(
            {
                "name": f"clienttoolbox: undo the {LINES:,}-line batch_transactions",
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "status": undone.status_code,
            }
        )
        await http.delete(f"/__admin/tenants/{tenant['id']}")
    body = urlencode(
        {
            "API": "1.5",
            "user_id": "sandbox",
            "user_api_key": "ct-sandbox-key",
            "account_id": "sandbox",
            "type": "campaign_rewards",
            "campaign_id": "4638472975924871",
        }
    )
    rewards = await run_load(
        "clienttoolbox: POST / type=campaign_rewards",
        port,
        build_request("POST", "/", port, FORM, body),
        connections=32,
        seconds=3,
    )
    rows.append(rewards.row())
    return rows
