"""CustomerGauge scenarios: accepting a 2,000-record (~2 MB) upload, processing it into the mail
queue, and small uploads sustained under load (accepted and processed)."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from bench.load import HOST, build_request, run_load

AUTH = {"Authorization": "api_key cg-sandbox-key"}
STREAM = "/v4.1/stream/transactional.json"
ADMIN = "/__admin/tenants/default/customergauge"
FULL_RECORDS = 2_000
FULL_RUNS = 5


def big_document(run: int) -> bytes:
    """2,000 records of ~1 KB each: just under the 2 MB limit."""
    note = "n" * 760
    records = "".join(
        "<record>"
        f"<Email>bench{run}_{i}@example.com</Email><FirstName>First{i}</FirstName>"
        f"<LastName>Last{i}</LastName><order_date>2026-01-0{1 + i % 9} 10:00:00</order_date>"
        f"<reference>ORD-{run}-{i:06d}</reference><Segment_A>Retail</Segment_A>"
        f"<Segment_B>EU</Segment_B><Note>{note}</Note>"
        "</record>"
        for i in range(FULL_RECORDS)
    )
    return f"<?xml version='1.0' encoding='utf-8'?><records>{records}</records>".encode()


SMALL = (
    b"<?xml version='1.0' encoding='utf-8'?><records><record><Email>small@example.com</Email>"
    b"<FirstName>Lee</FirstName><LastName>Klameth</LastName></record></records>"
)


async def wait_processed(http: httpx.AsyncClient, number: int, timeout: float = 30) -> float:
    """Seconds until upload `number` is Processed (polled every 2 ms)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        response = await http.get(f"{ADMIN}/uploads/{number}")
        if response.status_code == 200 and response.json()["status"] == "Processed":
            return time.perf_counter() - started
        await asyncio.sleep(0.002)
    raise TimeoutError(f"upload {number} not processed in {timeout} s")


async def server_ms(http: httpx.AsyncClient, count: int) -> list[float]:
    """The server-side durations of the last `count` stream uploads, from the journal."""
    response = await http.get(
        "/__admin/requests",
        params={"tenant": "default", "path": STREAM, "method": "POST", "limit": count},
    )
    return [entry["durationMs"] for entry in response.json()["requests"]]


async def full_uploads(port: int) -> list[dict]:
    accept_ms: list[float] = []
    process_s: list[float] = []
    statuses: set[int] = set()
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60) as http:
        size = len(big_document(0))
        for run in range(FULL_RUNS):
            body = big_document(run)
            started = time.perf_counter()
            response = await http.post(
                STREAM, content=body, headers={**AUTH, "content-type": "application/xml"}
            )
            accept_ms.append((time.perf_counter() - started) * 1000)
            statuses.add(response.status_code)
            number = int(response.headers["x-upload-id"])
            process_s.append(await wait_processed(http, number))
        server = await server_ms(http, FULL_RUNS)
    return [
        {
            "name": f"customergauge: accept a {FULL_RECORDS}-record upload ({size:,} bytes)",
            "server ms (median)": round(statistics.median(server), 1),
            "server ms (max)": round(max(server), 1),
            "client ms (median)": round(statistics.median(accept_ms), 1),
            "statuses": sorted(statuses),
            "target": "< 150 ms server side",
        },
        {
            "name": f"customergauge: accepted -> Processed, {FULL_RECORDS} records into the mail queue",
            "ms (median)": round(1000 * statistics.median(process_s), 1),
            "ms (max)": round(1000 * max(process_s), 1),
            "target": "< 1000 ms",
        },
    ]


async def sustained_small(port: int, seconds: float = 3.0) -> list[dict]:
    request = build_request(
        "POST", STREAM, port, {**AUTH, "Content-Type": "application/xml"}, SMALL
    )
    result = await run_load(
        "customergauge: POST small upload (1 record), 8 connections",
        port,
        request,
        connections=8,
        seconds=seconds,
    )
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as http:
        started = time.perf_counter()
        while True:
            queued = await http.get(f"{ADMIN}/uploads", params={"status": "Queued", "limit": 1})
            processing = await http.get(
                f"{ADMIN}/uploads", params={"status": "Processing", "limit": 1}
            )
            if not queued.json()["count"] and not processing.json()["count"]:
                break
            if time.perf_counter() - started > 60:
                break
            await asyncio.sleep(0.01)
        drain = time.perf_counter() - started
    row = result.row()
    row["queue drained after load (s)"] = round(drain, 2)
    row["processed/s incl. drain"] = round(result.requests / (result.seconds + drain))
    row["target"] = ">= 100 uploads/s accepted and processed"
    return [row]


async def run(port: int) -> list[dict]:
    rows = await full_uploads(port)
    rows += await sustained_small(port)
    return rows


if __name__ == "__main__":
    import sys

    print(asyncio.run(run(int(sys.argv[1]))))
