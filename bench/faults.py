"""Fault injection: concurrent injected delays, and what rules cost requests they do not match.

Every rule this scenario adds is deleted again, so the scenarios after it see a clean server.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.load import HOST, _read_response, build_request, compared_load

ECDP_KEY = {"x-api-key": "ecdp-sandbox-key"}
LOOKUP = "/customers/id/1"


async def one_request(port: int, payload: bytes) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(payload)
        return await _read_response(reader)
    finally:
        writer.close()


async def concurrent_delays(name: str, port: int, payload: bytes, count: int = 200) -> dict:
    """`count` requests at once, each with 1 s of injected latency: the wall time of all."""
    started = time.perf_counter()
    statuses = await asyncio.gather(*(one_request(port, payload) for _ in range(count)))
    elapsed = time.perf_counter() - started
    return {
        "name": name,
        "s": round(elapsed, 3),
        "target": "< 1.5 s",
        "statuses": {str(s): statuses.count(s) for s in set(statuses)},
    }


def add_rule(admin: httpx.Client, rule: dict) -> int:
    response = admin.post("/__admin/faults", json=rule)
    response.raise_for_status()
    return response.json()["faults"][0]["id"]


async def run(port: int) -> list[dict]:
    rows = []
    admin = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10)
    added: list[int] = []
    try:
        header = {**ECDP_KEY, "X-Simulator-Fault": "latency=1000ms"}
        rows.append(
            await concurrent_delays(
                "faults: 200 concurrent requests, 1 s latency each (header)",
                port,
                build_request("GET", LOOKUP, port, header),
            )
        )
        added.append(add_rule(admin, {"headers": {"X-Bench": "delay"}, "latency": "1000ms"}))
        await asyncio.sleep(0.1)
        rows.append(
            await concurrent_delays(
                "faults: 200 concurrent requests, 1 s latency each (stored rule, counted)",
                port,
                build_request("GET", LOOKUP, port, {**ECDP_KEY, "X-Bench": "delay"}),
            )
        )
        plain = build_request("GET", LOOKUP, port, ECDP_KEY)
        admin.delete(f"/__admin/faults/{added.pop()}")
        await asyncio.sleep(1.1)  # other processes' caches
        result = await compared_load("faults: ECDP GET, no rules", port, plain, seconds=3)
        rows.append(result.row())
        for index in range(10):
            added.append(
                add_rule(admin, {"api": "talonone", "path": f"/v9/{index}/*", "error": 503})
            )
        await asyncio.sleep(1.1)
        result = await compared_load(
            "faults: ECDP GET, 10 rules that do not match it", port, plain, seconds=3
        )
        rows.append(result.row())
        added.append(add_rule(admin, {"api": "ecdp", "latency": "0ms"}))
        await asyncio.sleep(1.1)
        result = await compared_load(
            "faults: ECDP GET, a matching 0 ms rule (hit counted in the store)",
            port,
            plain,
            seconds=3,
        )
        rows.append(result.row())
    finally:
        for rule_id in added:
            admin.delete(f"/__admin/faults/{rule_id}")
        admin.close()
    return rows
