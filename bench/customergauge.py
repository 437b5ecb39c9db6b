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
        drain = await drain_seconds(http)
    row = result.row()
    row["queue drained after load (s)"] = round(drain, 2)
    row["processed/s incl. drain"] = round(result.requests / (result.seconds + drain))
    row["target"] = ">= 100 uploads/s accepted and processed"
    return [row]


async def drain_seconds(http: httpx.AsyncClient, timeout: float = 60) -> float:
    """Seconds until no upload of the default tenant is Queued or Processing."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        counts = [
            (await http.get(f"{ADMIN}/uploads", params={"status": s, "limit": 1})).json()["count"]
            for s in ("Queued", "Processing")
        ]
        if not any(counts):
            break
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def paced_small(port: int, rate: int = 100, seconds: float = 3.0) -> list[dict]:
    """An open-loop 100 uploads/s for 3 s: is every upload accepted quickly and processed as
    fast as it arrives (no backlog after the last one)?"""
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {**AUTH, "content-type": "application/xml"}
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", timeout=30, limits=limits
    ) as http:
        began = time.perf_counter()

        async def send(i: int) -> None:
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            started = time.perf_counter()
            response = await http.post(STREAM, content=SMALL, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(send(i) for i in range(total)))
        sent_in = time.perf_counter() - began
        drain = await drain_seconds(http)
    ordered = sorted(latencies)
    return [
        {
            "name": f"customergauge: {rate} small uploads/s offered for {seconds:.0f} s",
            "uploads": total,
            "sent in s": round(sent_in, 2),
            "p50 ms": round(statistics.median(ordered), 2),
            "p99 ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
            "statuses": statuses,
            "backlog drained after last upload (s)": round(drain, 3),
            "target": "100 uploads/s accepted and processed, no backlog",
        }
    ]


async def run(port: int) -> list[dict]:
    rows = await full_uploads(port)
    rows += await paced_small(port)
    rows += await sustained_small(port)
    return rows


if __name__ == "__main__":
    import sys

    print(asyncio.run(run(int(sys.argv[1]))))
