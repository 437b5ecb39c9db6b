"""ECDP scenarios: the lookup by email under load, and one AddOrUpdate of 1,000 customers."""

from __future__ import annotations

import json
import time

import httpx

from bench.load import HOST, build_request, compared_load

KEY = {"x-api-key": "ecdp-sandbox-key"}
BATCH = 1_000


def batch_body(run: int) -> bytes:
    """1,000 customers with attributes and a consent: new on run 0, the same ones after."""
    data = [
        {
            "email": f"bench{i}@example.com",
            "crmId": f"BENCH-{i}",
            "firstName": f"First{i}",
            "lastName": f"Last{i}-{run}",
            "dateOfBirth": "1990-01-01T00:00:00Z",
            "gender": "Female",
            "customAttributes": [
                {"name": "loyaltyTier", "value": "Silver"},
                {"name": "shoeSize", "value": str(36 + i % 10)},
            ],
            "consentsData": {"consents": [{"id": 3, "value": "True"}]},
        }
        for i in range(BATCH)
    ]
    return json.dumps({"mode": "AddOrUpdate", "matchBy": "Email", "data": data}).encode()


async def time_batches(port: int) -> list[dict]:
    rows = []
    headers = {**KEY, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as http:
        for run, label in ((0, "adds"), (1, "updates")):
            body = batch_body(run)
            started = time.perf_counter()
            response = await http.post("/customers", content=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            rows.append(
                {
                    "name": f"ecdp: POST /customers AddOrUpdate {BATCH} customers ({label})",
                    "ms": round(elapsed, 1),
                    "status": response.status_code,
                    "body bytes": len(body),
                    "target": "< 1000 ms",
                }
            )
    return rows


async def run(port: int) -> list[dict]:
    rows = await time_batches(port)
    by_email = await compared_load(
        "ecdp: GET /customers/email/{email}",
        port,
        build_request("GET", "/customers/email/adam@example.com", port, KEY),
        connections=32,
        seconds=3,
    )
    by_email_row = by_email.row()
    by_email_row["target"] = ">= 35% of baseline"
    rows.append(by_email_row)
    emails = [f"/customers/email/bench{i}@example.com" for i in range(BATCH)]
    varied = await compared_load(
        "ecdp: GET /customers/email/{email} (1,000 different customers)",
        port,
        lambda i: build_request("GET", emails[i % BATCH], port, KEY),
        connections=32,
        seconds=3,
    )
    rows.append(varied.row())
    missing = await compared_load(
        "ecdp: GET /customers/email/{email} (404)",
        port,
        build_request("GET", "/customers/email/nobody@example.com", port, KEY),
        connections=32,
        seconds=2,
    )
    rows.append(missing.row())
    return rows
