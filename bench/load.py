"""A small keep-alive HTTP/1.1 load generator on raw asyncio sockets.

It is light enough not to be the bottleneck on a 2-core machine, talks only to 127.0.0.1,
and always stops by itself (a time limit and a request limit).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"


def build_request(
    method: str,
    path: str,
    port: int,
    headers: dict[str, str] | None = None,
    body: bytes | str = b"",
) -> bytes:
    """The raw bytes of one request (Content-Length always set)."""
    data = body.encode() if isinstance(body, str) else body
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Length: {len(data)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    statuses: Counter
    issued: int = 0  # requests sent, warm-up included
    baseline_rps: float | None = None  # the baseline measured alongside (compared_load)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> dict:
        return {
            "name": self.name,
            "req/s": round(self.rps),
            "p50 ms": round(self.percentile(0.50), 2),
            "p99 ms": round(self.percentile(0.99), 2),
            "requests": self.requests,
            "statuses": dict(self.statuses),
            **self.comparison(),
        }

    def comparison(self) -> dict:
        if not self.baseline_rps:
            return {}
        return {
            "paired baseline req/s": round(self.baseline_rps),
            "vs baseline": f"{100 * self.rps / self.baseline_rps:.0f}%",
        }


async def _read_response(reader: asyncio.StreamReader) -> int:
    return (await _read_answer(reader))[0]


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """(status, content type, body) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    content_type = b""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value.strip())
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif lname == b"content-type":
            content_type = value.strip()
    body = b""
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    elif length:
        body = await reader.readexactly(length)
    return status, content_type, body


def request_maker(request: bytes | Callable[[int], bytes]) -> Callable[[int], bytes]:
    """`request(i)` for a factory, the same bytes every time otherwise."""
    return request if callable(request) else (lambda _i: request)


async def run_load(
    name: str,
    port: int,
    request: bytes | Callable[[int], bytes],
    connections: int = 32,
    seconds: float = 5.0,
    max_requests: int = 1_000_000,
    warmup_seconds: float = 0.5,
) -> Result:
    """Keep `connections` connections busy for `seconds`; `request(i)` may vary each request."""
    make = request_maker(request)
    latencies: list[float] = []
    statuses: Counter = Counter()
    counter = [0]
    measuring = [False]
    stop_at = [time.perf_counter() + warmup_seconds + seconds]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < stop_at[0] and counter[0] < max_requests:
                counter[0] += 1
                payload = make(counter[0])
                started = time.perf_counter()
                writer.write(payload)
                status = await _read_response(reader)
                if measuring[0]:
                    latencies.append((time.perf_counter() - started) * 1000)
                    statuses[status] += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(warmup_seconds)
    measuring[0] = True
    began = time.perf_counter()
    await asyncio.gather(*tasks, return_exceptions=False)
    elapsed = time.perf_counter() - began
    return Result(name, len(latencies), elapsed, latencies, statuses, issued=counter[0])


def combined(name: str, parts: list[Result]) -> Result:
    """Several runs of one scenario as one: their requests, time and latencies added up."""
    statuses: Counter = Counter()
    for part in parts:
        statuses.update(part.statuses)
    return Result(
        name,
        sum(p.requests for p in parts),
        sum(p.seconds for p in parts),
        [ms for p in parts for ms in p.latencies_ms],
        statuses,
        issued=sum(p.issued for p in parts),
    )


# The baseline's port, once `bench.__main__` has it serving: what compared_load measures beside.
BASELINE_PORT: list[int] = []


def baseline_request(port: int) -> bytes:
    """The baseline's request: the same bytes as `/__admin/health` answers (bench/baseline.py)."""
    return build_request("GET", "/health", port)


async def same_answer_request(name: str, port: int, request: bytes) -> bytes:
    """The baseline's request answering what `request` to the simulator on `port` answers (its
    status, content type and body, kept by the bare stack under `name`): the bare stack serving
    the same body, read from memory."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        status, content_type, body = await _read_answer(reader)
    finally:
        writer.close()
    base = BASELINE_PORT[0]
    keep = {"content-type": content_type.decode("latin-1"), "x-status": str(status)}
    reader, writer = await asyncio.open_connection(HOST, base)
    try:
        writer.write(build_request("PUT", f"/bodies/{name}", base, keep, body))
        if (await _read_answer(reader))[0] != 204:
            raise RuntimeError("the baseline did not keep the answer")
    finally:
        writer.close()
    return build_request("GET", f"/bodies/{name}", base)


async def compared_load(
    name: str,
    port: int,
    request: bytes | Callable[[int], bytes],
    connections: int = 32,
    seconds: float = 3.0,
    slices: int = 4,
    baseline: bytes | None = None,
) -> Result:
    """The scenario in `slices` parts, each next to a baseline part as long (in the order
    baseline, scenario, scenario, baseline, ...), so that the machine's speed drifting during a
    run (on these shared machines by half within a minute) moves both alike. The Result carries
    the paired baseline's req/s; `request(i)` numbers run on across the parts. `baseline`: the
    baseline's request (default `baseline_request`, /health's bytes)."""
    if not BASELINE_PORT:
        return await run_load(name, port, request, connections, seconds)
    base_port = BASELINE_PORT[0]
    make = request_maker(request)
    parts: list[Result] = []
    bases: list[Result] = []
    part_seconds = seconds / slices

    async def baseline_part() -> None:
        bases.append(
            await run_load(
                "baseline",
                base_port,
                baseline or baseline_request(base_port),
                connections,
                part_seconds,
                warmup_seconds=0.2,
            )
        )

    async def scenario_part() -> None:
        sent = sum(p.issued for p in parts)
        parts.append(
            await run_load(
                name,
                port,
                lambda i: make(sent + i),
                connections,
                part_seconds,
                warmup_seconds=0.2 if parts else 0.5,
            )
        )

    for index in range(slices):
        steps = (baseline_part, scenario_part) if index % 2 == 0 else (scenario_part, baseline_part)
        for step in steps:
            await step()
    result = combined(name, parts)
    result.baseline_rps = combined("baseline", bases).rps or None
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
