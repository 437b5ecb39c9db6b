"""Helpers of the ledger race tests: requests released at once, alternating between two real
processes on one store, and the Talon.One ledger read back through the API."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import LiveServer

# Every request of a round is in flight at once: one connection per request.
CONNECTIONS_PER_SERVER = 40


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def _race(servers: Sequence[LiveServer], calls: Sequence[Call]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONNECTIONS_PER_SERVER)
    clients = [
        httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) for server in servers
    ]
    gate = asyncio.Event()

    async def one(n: int, call: Call) -> httpx.Response:
        await gate.wait()
        client = clients[n % len(clients)]
        return await client.request(
            call.method, call.path, json=call.json, data=call.data, headers=call.headers
        )

    try:
        tasks = [asyncio.create_task(one(n, call)) for n, call in enumerate(calls)]
        await asyncio.sleep(0.05)  # every request waits at the gate
        gate.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    finally:
        for client in clients:
            await client.aclose()


def race(servers: Sequence[LiveServer], calls: Sequence[Call]) -> list[httpx.Response]:
    """The calls released together, the n-th to process n % 2; their answers in order."""
    return asyncio.run(_race(servers, calls))


def talon_headers(tenant: dict) -> dict[str, str]:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def ledger_path(program_id: int, profile: str | None = None, card: str | None = None) -> str:
    if card is not None:
        return f"/v1/loyalty_programs/{program_id}/cards/{card}"
    return f"/v1/loyalty_programs/{program_id}/profile/{profile}"


def ledger_rows(server: LiveServer, tenant: dict, path: str) -> list[dict]:
    """Every transaction of a ledger (profile or card), oldest first."""
    rows: list[dict] = []
    skip = 0
    while True:
        response = httpx.get(
            f"{server.url}{path}/transactions",
            params={"pageSize": 1000, "skip": skip},
            headers=talon_headers(tenant),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["data"]
        if not body["hasMore"]:
            return sorted(rows, key=lambda row: row["id"])
        skip += len(body["data"])


def active_points(server: LiveServer, tenant: dict, path: str) -> float:
    response = httpx.get(f"{server.url}{path}/balances", headers=talon_headers(tenant))
    assert response.status_code == 200, response.text
    balance = response.json()["balance"]
    assert balance["negativePoints"] == 0, balance
    return balance["activePoints"]


# What each answered loyalty effect must have written: a ledger row of this type.
ROW_OF_EFFECT = {
    "addLoyaltyPoints": "addition",
    "deductLoyaltyPoints": "subtraction",
    "rollbackAddedLoyaltyPoints": "subtraction",
    "rollbackDeductedLoyaltyPoints": "addition",
}


def answered_loyalty(response: httpx.Response, session_id: str) -> list[tuple[str, str, float]]:
    """(session, ledger row type, value) of every loyalty effect a 200 answered."""
    if response.status_code != 200:
        return []
    return [
        (session_id, ROW_OF_EFFECT[e["effectType"]], e["props"]["value"])
        for e in response.json()["effects"]
        if e["effectType"] in ROW_OF_EFFECT
    ]


def written_rows(rows: list[dict]) -> list[tuple[str, str, float]]:
    """(session, type, amount) of the ledger's rows that sessions or events wrote."""
    return [
        (row["customerSessionId"], row["type"], row["amount"])
        for row in rows
        if "customerSessionId" in row
    ]
