"""Head-of-line blocking: the latency of a small GET (ECDP GET by email) while a 10,000-line
ClientToolbox customers_batch runs in the same process, next to the same GET alone.

A batch must not hold the event loop: the GETs issued while it runs should answer about as
fast as without it (target p99 < 50 ms on the 2-core machine). The probe is paced (two
connections, each waiting 2 ms between answers), so it measures waiting, not throughput.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from bench.clienttoolbox import FORM, customers_form
from bench.load import HOST, Result, _read_response, build_request

GET = "/customers/email/adam@example.com"
KEY = {"x-api-key": "ecdp-sandbox-key"}
CONNECTIONS = 2
PAUSE = 0.002
BATCHES = 3  # new customers, then updates twice


async def probe(port: int, stop: asyncio.Event, latencies: list[float], statuses: dict) -> None:
    """GET until `stop`: one connection, a pause between an answer and the next request."""
    request = build_request("GET", GET, port, KEY)
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            await asyncio.sleep(PAUSE)
    finally:
        writer.close()


async def probed(port: int, name: str, during: asyncio.Future | None, seconds: float) -> Result:
    """The probe's GETs while `during` runs (or for `seconds` when None)."""
    stop = asyncio.Event()
    latencies: list[float] = []
    statuses: dict = {}
    tasks = [
        asyncio.create_task(probe(port, stop, latencies, statuses)) for _ in range(CONNECTIONS)
    ]
    started = time.perf_counter()
    if during is None:
        await asyncio.sleep(seconds)
    else:
        await during
    stop.set()
    await asyncio.gather(*tasks)
    return Result(name, len(latencies), time.perf_counter() - started, latencies, Counter(statuses))


async def run(port: int) -> list[dict]:
    rows = []
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60) as http:
        tenant = (
            await http.post("/__admin/tenants", json={"name": "bench-hol", "fixtures": "default"})
        ).json()
        credentials = {"API": "1.5", **tenant["credentials"]["clienttoolbox"]}
        alone = await probed(port, "blocking: ECDP GET by email, alone", None, 2.0)
        rows.append(alone.row())
        forms = [customers_form(credentials, run) for run in range(BATCHES)]
        batch_ms: list[float] = []
        during: list[Result] = []
        for form in forms:

            async def batch(body: bytes = form) -> None:
                started = time.perf_counter()
                response = await http.post("/", content=body, headers=FORM)
                assert response.status_code == 200 and 'status="success"' in response.text
                batch_ms.append(round((time.perf_counter() - started) * 1000, 1))

            await asyncio.sleep(0.2)  # the probe starts before the batch is sent
            task = asyncio.ensure_future(batch())
            during.append(await probed(port, "", task, 0))
        latencies = [ms for part in during for ms in part.latencies_ms]
        statuses: dict = {}
        for part in during:
            for status, count in part.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
            combined = Result(
                f"blocking: ECDP GET by email while a {len(forms)} x 10,000-line customers_batch run",
                len(latencies),
                sum(p.seconds for p in during),
                latencies,
                Counter(statuses),
            )
        row = combined.row()
        row["max ms"] = round(max(latencies), 1) if latencies else None
        row["batch ms"] = batch_ms
        row["target"] = "p99 < 50 ms"
        rows.append(row)
        await http.delete(f"/__admin/tenants/{tenant['id']}")
    return rows
