"""Talon.One loyalty scenarios: balances of a profile with 10,000 ledger rows, and session closes
that add points (each close writes a transaction and a lot).

Each scenario works in a tenant of its own, created through the admin API with an inline
fixture document, so the default tenant is left as it is.
"""

from __future__ import annotations

import json
import statistics
import time

import httpx

from bench.load import HOST, build_request, compared_load

HEAVY_ROWS = 10_000
PROFILES = 100


def heavy_ledger() -> list[dict]:
    """10,000 additions with a mix of active, pending and expired lots, two subledgers, then a
    few deductions so some lots are partly spent."""
    entries = []
    for i in range(HEAVY_ROWS):
        entry = {"profileId": "heavy", "amount": 10 + i % 7, "created": "2029-06-01T00:00:00Z"}
        if i % 3 == 1:
            entry["expiryDate"] = "2029-12-01T00:00:00Z"
        if i % 5 == 2:
            entry["startDate"] = "2031-01-01T00:00:00Z"
        if i % 4 == 3:
            entry["subledgerId"] = "food"
        entries.append(entry)
    entries += [
        {
            "profileId": "heavy",
            "type": "subtraction",
            "amount": 500,
            "created": "2029-07-01T00:00:00Z",
        }
    ] * 5
    return entries


def program(transactions: list[dict] | None = None) -> dict:
    return {
        "id": 1,
        "name": "bench",
        "subledgers": ["food"],
        "tiers": [
            {"id": 1, "name": "Bronze", "minPoints": 0},
            {"id": 2, "name": "Gold", "minPoints": 1e6},
        ],
        "transactions": transactions or [],
    }


def earning_campaign() -> dict:
    return {
        "id": 1,
        "name": "Earn points",
        "features": ["loyalty"],
        "rules": [
            {
                "title": "Earn",
                "effects": [{"addLoyaltyPoints": {"programId": 1, "value": 10, "name": "Bench"}}],
            }
        ],
    }


async def new_tenant(http: httpx.AsyncClient, talonone: dict) -> str:
    document = {"clock": {"now": "2030-01-01T00:00:00Z", "frozen": True}, "talonone": talonone}
    response = await http.post("/__admin/tenants", json={"fixtures": document})
    response.raise_for_status()
    return response.json()["credentials"]["talonone"]["api_key"]


async def heavy_balances(http: httpx.AsyncClient, port: int) -> list[dict]:
    started = time.perf_counter()
    key = await new_tenant(http, {"loyaltyPrograms": [program(heavy_ledger())]})
    setup = time.perf_counter() - started
    headers = {"Authorization": f"ApiKey-v1 {key}"}
    path = "/v1/loyalty_programs/1/profile/heavy/balances"
    timings = []
    for i in range(60):
        begun = time.perf_counter()
        response = await http.get(path, headers=headers, params={"includeTiers": "true"})
        if i >= 10:  # the first ones warm the caches
            timings.append((time.perf_counter() - begun) * 1000)
        response.raise_for_status()
    timings.sort()
    rows = [
        {
            "name": f"talonone: fixture tenant with {HEAVY_ROWS} ledger rows for one profile (setup)",
            "s": round(setup, 2),
        },
        {
            "name": f"talonone: GetLoyaltyBalances, profile with {HEAVY_ROWS} ledger rows (1 connection)",
            "ms": round(statistics.median(timings), 2),
            "p95 ms": round(timings[int(0.95 * len(timings))], 2),
            "target": "< 20 ms",
        },
    ]
    load = await compared_load(
        f"talonone: GetLoyaltyBalances, {HEAVY_ROWS} rows, 32 connections",
        port,
        build_request("GET", path, port, headers),
        connections=32,
        seconds=3,
    )
    rows.append(load.row())
    return rows


async def session_closes(http: httpx.AsyncClient, port: int) -> list[dict]:
    key = await new_tenant(
        http, {"campaigns": [earning_campaign()], "loyaltyPrograms": [program()]}
    )
    headers = {"Authorization": f"ApiKey-v1 {key}", "Content-Type": "application/json"}

    # One body per profile, built before the run (the load generator shares the server's cores).
    bodies = [
        json.dumps(
            {
                "customerSession": {
                    "profileId": f"bench-{n}",
                    "state": "closed",
                    "cartItems": [{"name": "Widget", "sku": "W-1", "quantity": 1, "price": 10}],
                }
            }
        )
        for n in range(PROFILES)
    ]

    def request(i: int) -> bytes:
        return build_request(
            "PUT", f"/v2/customer_sessions/close-{i}", port, headers, bodies[i % PROFILES]
        )

    result = await compared_load(
        "talonone: UpdateCustomerSessionV2 closing a session that adds points",
        port,
        request,
        connections=32,
        seconds=3,
    )
    row = result.row()
    row["target"] = ">= 20% of baseline"
    balance = await http.get(
        "/v1/loyalty_programs/1/profile/bench-0/balances",
        headers={"Authorization": headers["Authorization"]},
    )
    if balance.status_code == 200:
        row["points posted to bench-0"] = balance.json()["balance"]["activePoints"]
    return [row]


async def run(port: int) -> list[dict]:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60) as http:
        rows = await heavy_balances(http, port)
        rows += await session_closes(http, port)
    return rows
