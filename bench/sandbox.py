"""Shared sandbox: the Talon.One session-update mix on 1, 2 and 4 processes sharing one
PostgreSQL versus one process on SQLite (the simulator the harness started on `port`).

The mix, per request number n: n % 3 == 0 opens a new session (UpdateCustomerSessionV2, state
open), 1 creates a new session closed (its loyalty points are posted), 2 reads a stored session
(GetCustomerSession). Every set-up gets 32 connections in all, shared out between its
processes.
The PostgreSQL processes run on a fresh schema of their own in database `test` and are stopped
(and the schema dropped) at the end; without a PostgreSQL on 127.0.0.1:5432 the row says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.load import HOST, Result, build_request, run_load

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "SIM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCHEMA = "sim_bench_sandbox"
AUTH = {"Authorization": "ApiKey-v1 talon-sandbox-key", "Content-Type": "application/json"}
SKUS = ["SKU-SHOE-1", "SKU-SHOE-2", "SKU-SHIRT-1", "SKU-SOCK-1"]
CONNECTIONS = 32
# Each set-up's load window; longer windows (SIM_BENCH_SANDBOX_SECONDS) steady the figures on a
# machine whose other work moves them.
SECONDS = float(os.environ.get("SIM_BENCH_SANDBOX_SECONDS", "3"))
READ_SESSION = "sandbox-bench-read"


def session_body(n: int, state: str) -> bytes:
    items = [
        {"sku": SKUS[i % len(SKUS)], "quantity": 1 + i % 2, "price": 10 + i, "name": f"Item {i}"}
        for i in range(5)
    ]
    session = {"profileId": f"sandbox-bench-{n % 200}", "state": state, "cartItems": items}
    return json.dumps({"customerSession": session}).encode()


def mix(port: int, tag: str):
    """The request of number n for one process; `tag` keeps the processes' session ids apart."""
    read = build_request("GET", f"/v2/customer_sessions/{READ_SESSION}", port, AUTH)

    def request(n: int) -> bytes:
        kind = n % 3
        if kind == 2:
            return read
        state = "open" if kind == 0 else "closed"
        path = f"/v2/customer_sessions/mix-{tag}-{n}"
        return build_request("PUT", path, port, AUTH, session_body(n, state))

    return request


async def prepare(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=10) as http:
        await http.put(
            f"/v2/customer_sessions/{READ_SESSION}",
            content=session_body(0, "closed"),
            headers=AUTH,
        )


def combined(name: str, results: list[Result]) -> dict:
    """One row for several processes loaded at once: requests summed, latencies pooled."""
    statuses: dict = {}
    for result in results:
        for status, count in result.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    merged = Result(
        name,
        sum(r.requests for r in results),
        max(r.seconds for r in results),
        [ms for r in results for ms in r.latencies_ms],
        statuses,
    )
    return merged.row()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def postgres_answers() -> bool:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        engine.dispose()
        return True
    except Exception:
        return False


def drop_schema() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    engine.dispose()


def start(database_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "SIM_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "simulator", "serve", "--port", str(port)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=0.5) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("simulator on PostgreSQL exited at start")
            try:
                if (await http.get(f"http://{HOST}:{port}/__admin/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("simulator on PostgreSQL not healthy in 30 s")


PROCESS_COUNTS = (1, 2, 4)


async def processes_on_postgres(count: int) -> dict:
    name = f"sandbox: session mix, {count} process{'es' if count > 1 else ''} on PostgreSQL"
    if not postgres_answers():
        return {"name": name, "note": f"skipped: no PostgreSQL answers at {POSTGRES_URL}"}
    separator = "&" if "?" in POSTGRES_URL else "?"
    database_url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{SCHEMA}"
    ports = [free_port() for _ in range(count)]
    processes = []
    try:
        # One after the other: the first creates the schema, the others find it.
        for port in ports:
            processes.append(start(database_url, port))
            await wait_healthy(port, processes[-1])
        await prepare(ports[0])
        loads = [
            run_load(
                name, port, mix(port, f"pg{n}"), connections=CONNECTIONS // count, seconds=SECONDS
            )
            for n, port in enumerate(ports)
        ]
        row = combined(name, list(await asyncio.gather(*loads)))
        return {**row, "target": "report (vs 1 process on SQLite)"}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_schema()


async def run(port: int) -> list[dict]:
    await prepare(port)
    sqlite = await run_load(
        "sandbox: session mix, 1 process on SQLite",
        port,
        mix(port, "sqlite"),
        connections=CONNECTIONS,
        seconds=SECONDS,
    )
    rows = [{**sqlite.row(), "target": "report"}]
    for count in PROCESS_COUNTS:
        rows.append(await processes_on_postgres(count))
    return rows


if __name__ == "__main__":  # python -m bench.sandbox PORT: against a simulator already running
    print(json.dumps(asyncio.run(run(int(sys.argv[1]))), indent=2))
