"""Talon.One core scenarios: UpdateCustomerSessionV2 with 10 cart items, every campaign
evaluated as a real integration's body asks (no `evaluableCampaignIds` filter: the audience
campaign too), a new session per request so concurrent writers never race on one session; and
GetCustomerSession of one stored session."""

from __future__ import annotations

import functools
import json

import httpx

from bench.load import HOST, build_request, compared_load

AUTH = {"Authorization": "ApiKey-v1 talon-sandbox-key", "Content-Type": "application/json"}
SKUS = ["SKU-SHOE-1", "SKU-SHOE-2", "SKU-SHIRT-1", "SKU-SOCK-1", "SKU-OTHER"]


def session_body(n: int) -> bytes:
    """10 cart items (catalog lookups by SKU) evaluated against every campaign; the body of
    customer n % 500, built once (the load generator shares the server's cores)."""
    return _customer_body(n % 500)


@functools.cache
def _customer_body(n: int) -> bytes:
    items = [
        {"sku": SKUS[i % len(SKUS)], "quantity": 1 + i % 3, "price": 10 + i, "name": f"Item {i}"}
        for i in range(10)
    ]
    session = {
        "profileId": f"bench-customer-{n % 500}",
        "cartItems": items,
        "additionalCosts": {"shipping": {"price": 4.95}},
        "attributes": {"Channel": "web"},
    }
    return json.dumps({"customerSession": session}).encode()


async def run(port: int) -> list[dict]:
    rows = []

    def update(i: int) -> bytes:
        return build_request("PUT", f"/v2/customer_sessions/bench-{i}", port, AUTH, session_body(i))

    result = await compared_load(
        "talonone: PUT /v2/customer_sessions/{id} (10 items, every campaign)",
        port,
        update,
        connections=32,
        seconds=3,
    )
    rows.append({**result.row(), "target": ">= 20% of baseline req/s"})
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=10) as http:
        await http.put("/v2/customer_sessions/bench-read", content=session_body(0), headers=AUTH)
    read = build_request("GET", "/v2/customer_sessions/bench-read", port, AUTH)
    result = await compared_load(
        "talonone: GET /v2/customer_sessions/{id}", port, read, connections=32, seconds=3
    )
    rows.append({**result.row(), "target": ">= 35% of baseline req/s"})
    return rows
