"""A mixed soak: 12 request kinds over the four APIs, in turn, on 32 connections.

What an integration test suite does to a shared simulator: Talon.One session updates (opened
and closed, new sessions), a session read, loyalty balances and an event; ECDP lookups by
e-mail and CRM id and a one-customer upsert; ClientToolbox reads (rewards, campaigns, a
customer search); CustomerGauge's unsubscribe list. SIM_BENCH_SOAK_SECONDS sets the length
(default 20 s; the issue's soak ran 60 s). Reports the throughput, the tail and every status:
the target is p99 <= 50 ms with no error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from urllib.parse import urlencode

import httpx

from bench.load import HOST, build_request, compared_load

SECONDS = float(os.environ.get("SIM_BENCH_SOAK_SECONDS", "20"))
TALON = {"Authorization": "ApiKey-v1 talon-sandbox-key", "Content-Type": "application/json"}
ECDP = {"x-api-key": "ecdp-sandbox-key", "Content-Type": "application/json"}
CG = {"Authorization": "api_key cg-sandbox-key"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
CT = {"API": "1.5", "user_id": "sandbox", "user_api_key": "ct-sandbox-key", "account_id": "sandbox"}
SKUS = ["SKU-SHOE-1", "SKU-SHOE-2", "SKU-SHIRT-1", "SKU-SOCK-1", "SKU-OTHER"]
READ_SESSION = "soak-read"


def session_body(n: int, state: str) -> bytes:
    items = [
        {"sku": SKUS[i % len(SKUS)], "quantity": 1 + i % 2, "price": 10 + i, "name": f"Item {i}"}
        for i in range(5)
    ]
    session = {
        "profileId": f"soak-{n % 300}",
        "state": state,
        "cartItems": items,
        "attributes": {"Channel": "web"},
    }
    return json.dumps({"customerSession": session}).encode()


def ct_call(port: int, kind: str, **fields: str) -> bytes:
    return build_request("POST", "/", port, FORM, urlencode({**CT, "type": kind, **fields}))


def kinds(port: int) -> list[Callable[[int], bytes]]:
    """The 12 request kinds, each a function of the request's number."""
    return list(named_kinds(port).values())


def named_kinds(port: int) -> dict[str, Callable[[int], bytes]]:
    """The 12 request kinds by a short name, in the soak's order."""

    def fixed(request: bytes) -> Callable[[int], bytes]:
        return lambda _n: request

    def session(state: str) -> Callable[[int], bytes]:
        def request(n: int) -> bytes:
            path = f"/v2/customer_sessions/soak-{state}-{n}"
            return build_request("PUT", path, port, TALON, session_body(n, state))

        return request

    def event(n: int) -> bytes:
        body = json.dumps({"profileId": f"soak-{n % 300}", "type": "pageview"})
        return build_request("POST", "/v2/events", port, TALON, body)

    def upsert(n: int) -> bytes:
        data = [{"email": f"soak{n % 500}@example.com", "lastName": f"Soak{n}"}]
        body = json.dumps({"mode": "AddOrUpdate", "matchBy": "Email", "data": data})
        return build_request("POST", "/customers", port, ECDP, body)

    balances = "/v1/loyalty_programs/1/profile/customer-1/balances"
    return {
        "talonone session update (open)": session("open"),
        "talonone session update (closed)": session("closed"),
        "talonone session read": fixed(
            build_request("GET", f"/v2/customer_sessions/{READ_SESSION}", port, TALON)
        ),
        "talonone loyalty balances": fixed(build_request("GET", balances, port, TALON)),
        "talonone event": event,
        "ecdp customer by e-mail": fixed(
            build_request("GET", "/customers/email/adam@example.com", port, ECDP)
        ),
        "ecdp customer by CRM id": fixed(
            build_request("GET", "/customers/crmId/CRM-0001", port, ECDP)
        ),
        "ecdp upsert of one customer": upsert,
        "clienttoolbox campaign_rewards": fixed(
            ct_call(port, "campaign_rewards", campaign_id="4638472975924871")
        ),
        "clienttoolbox campaigns_list": fixed(ct_call(port, "campaigns_list")),
        "clienttoolbox customer_find": fixed(ct_call(port, "customer_find", find_customer="eve")),
        "customergauge unsubscribe list": fixed(
            build_request("GET", "/v4.1/lists/unsubscribe.json", port, CG)
        ),
    }


async def create_read_session(port: int) -> None:
    """The stored session the session read asks for."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=10) as http:
        await http.put(
            f"/v2/customer_sessions/{READ_SESSION}", content=session_body(0, "open"), headers=TALON
        )


async def run(port: int) -> list[dict]:
    await create_read_session(port)
    requests = kinds(port)

    def mixed(n: int) -> bytes:
        return requests[n % len(requests)](n)

    result = await compared_load(
        f"mixed soak: 12 request kinds over the four APIs, {SECONDS:.0f} s",
        port,
        mixed,
        connections=32,
        seconds=SECONDS,
        slices=4,
    )
    row = result.row()
    row["max ms"] = round(max(result.latencies_ms, default=0.0), 2)
    row["target"] = "p99 <= 50 ms, no error"
    return [row]
