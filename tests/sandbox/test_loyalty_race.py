"""Two processes × 50 concurrent loyalty deductions on one profile: the ledger keeps the exact
balance (no lost update) and never goes below zero."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.conftest import LiveServer

PER_SERVER = 50
START_POINTS = 700
DEDUCTION = 10
PROFILE = "racer-1"
# The 100 requests are all in flight at once: 50 connections to each process.
CONNECTIONS_PER_SERVER = 50

DOCUMENT = {
    "talonone": {
        "application": {"id": 1, "accountId": 1, "name": "Race shop", "currency": "EUR"},
        "campaigns": [
            {
                "id": 1,
                "name": "Spend points",
                "features": ["loyalty"],
                "rules": [
                    {
                        "title": "Redeem 10 points",
                        "conditions": [{"event": "redeem_points"}],
                        "effects": [
                            {
                                "deductLoyaltyPoints": {
                                    "programId": 1,
                                    "value": DEDUCTION,
                                    "name": "Redemption",
                                }
                            }
                        ],
                    }
                ],
            }
        ],
        "profiles": [{"integrationId": PROFILE}],
        "loyaltyPrograms": [
            {
                "id": 1,
                "name": "points",
                "title": "Points",
                "allowNegativeBalance": False,
                "transactions": [
                    {
                        "profileId": PROFILE,
                        "amount": START_POINTS,
                        "name": "Opening balance",
                        "created": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        ],
    }
}


def deductions_of(response: httpx.Response) -> int:
    """How many deductions a TrackEventV2 answer says it made (0 or 1); a 409 is a lost race."""
    if response.status_code == 409:
        body = response.json()
        assert set(body) >= {"message", "errors", "StatusCode"}, body
        assert body["StatusCode"] == 409
        return 0
    assert response.status_code == 200, response.text
    effects = response.json()["effects"]
    deducted = [e for e in effects if e["effectType"] == "deductLoyaltyPoints"]
    assert all(e["props"]["value"] == DEDUCTION for e in deducted)
    return len(deducted)


async def race(servers: tuple[LiveServer, LiveServer], key: str, count: int) -> list:
    """`count` TrackEventV2 calls released at once, alternating between the two processes."""
    headers = {"Authorization": f"ApiKey-v1 {key}"}
    limits = httpx.Limits(max_connections=CONNECTIONS_PER_SERVER)
    clients = [
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60, limits=limits)
        for server in servers
    ]
    gate = asyncio.Event()

    async def one(n: int) -> httpx.Response:
        await gate.wait()
        body = {"profileId": PROFILE, "type": "redeem_points", "attributes": {}}
        return await clients[n % 2].post("/v2/events?silent=no", json=body)

    try:
        tasks = [asyncio.create_task(one(n)) for n in range(count)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    finally:
        for client in clients:
            await client.aclose()


def balance(server: LiveServer, key: str) -> float:
    response = httpx.get(
        f"{server.url}/v1/loyalty_programs/1/profile/{PROFILE}/balances",
        headers={"Authorization": f"ApiKey-v1 {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["balance"]["activePoints"]


def test_concurrent_deductions_keep_the_exact_balance(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    tenant = first.new_tenant(DOCUMENT)
    key = tenant["credentials"]["talonone"]["api_key"]
    assert balance(second, key) == START_POINTS
    responses = asyncio.run(race(two_servers, key, 2 * PER_SERVER))
    outcomes = Counter(r.status_code for r in responses)
    deducted = sum(deductions_of(r) for r in responses)
    final = balance(first, key)
    assert final == balance(second, key)
    assert final >= 0
    assert final == START_POINTS - deducted * DEDUCTION, (outcomes, deducted, final)
    # A request answered without a deduction saw too few points: the balance had run out.
    refused = outcomes[200] - deducted
    if refused:
        assert final < DEDUCTION, (outcomes, deducted, final)
    assert deducted == min(outcomes[200], START_POINTS // DEDUCTION), (outcomes, deducted)
    transactions = httpx.get(
        f"{second.url}/v1/loyalty_programs/1/profile/{PROFILE}/transactions",
        params={"pageSize": 1000},
        headers={"Authorization": f"ApiKey-v1 {key}"},
    ).json()["data"]
    subtractions = [t for t in transactions if t["type"] == "subtraction"]
    assert len(subtractions) == deducted
    assert all(t["amount"] == DEDUCTION for t in subtractions)
