"""`make bench`: start the baseline and the simulator on 127.0.0.1, load both, print figures.

Every scenario is bounded in time and count; nothing leaves the machine. Each row is written
to standard error as it is measured (one JSON object a line); at the end standard output gets
one table per API. `python -m bench [SCENARIO ...] [--json FILE]`: only those scenario modules;
FILE gets every row with the machine and the commit, for comparison between commits.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.load import BASELINE_PORT, baseline_request, build_request, run_load

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_MODULES = (
    "customergauge",
    "clienttoolbox",
    "blocking",
    "ecdp",
    "talonone",
    "talonone_loyalty",
    "faults",
    "fixtures",
    "inspector",
    "sandbox",
    "largestore",
    "reads",
    "soak",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(
    url: str, process: subprocess.Popen, timeout: float = 30, started: float | None = None
) -> float:
    """Seconds from `started` (default: now) to the first 200 from `url`."""
    started = time.monotonic() if started is None else started
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read().decode()}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} not healthy after {timeout} s")


def start_baseline(port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", "bench.baseline:app", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def start_simulator(port: int, database_url: str, env: dict[str, str] | None = None):
    command = [sys.executable, "-m", "simulator", "serve", "--port", str(port)]
    command += ["--db", database_url, "--fixtures", "default"]
    environment = {**os.environ, **(env or {})}
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def start_timed(start: Callable[[], subprocess.Popen], url: str) -> tuple[subprocess.Popen, float]:
    """Start a server alone on the machine; (process, seconds from its start to healthy)."""
    started = time.monotonic()
    process = start()
    try:
        return process, wait_healthy(url, process, started=started)
    except BaseException:
        stop(process)
        raise


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


ROWS: list[dict] = []  # every row measured in this run, in order


def print_rows(rows: list[dict], baseline_rps: float) -> None:
    for row in rows:
        if "req/s" in row and baseline_rps and "vs baseline" not in row:
            row["vs baseline"] = f"{100 * row['req/s'] / baseline_rps:.0f}%"
        ROWS.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)


TABLES = (
    "customergauge",
    "clienttoolbox",
    "talonone",
    "ecdp",
    "faults",
    "sandbox",
    "large store",
    "reads",
    "mixed soak",
)


def api_of(row: dict) -> str:
    """The table a row goes in: the API (or the part) its name starts with, the fixture loads,
    else the stack's own (start, baselines, health, head-of-line blocking)."""
    name = row.get("name", "")
    prefix = name.partition(":")[0]
    if prefix in TABLES:
        return prefix
    return "fixtures" if name.startswith(("generate ", "load the generated")) else "stack"


def cell(value: object) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}:{v}" for k, v in value.items())
    return "" if value is None else str(value)


def table(rows: list[dict]) -> str:
    """A Markdown table of the rows (columns: every key any of them has, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(key)) for key in columns) + " |" for row in rows]
    return "\n".join(lines)


def print_tables(rows: list[dict]) -> None:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(api_of(row), []).append(row)
    for api, grouped in groups.items():
        print(f"\n## {api}\n\n{table(grouped)}", flush=True)


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return ""


def write_json(path: str, rows: list[dict]) -> None:
    report = {
        "machine": machine(),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help=f"only these ({', '.join(SCENARIO_MODULES)})")
    parser.add_argument("--json", metavar="FILE", help="write every row to FILE as JSON")
    return parser.parse_args()


async def main(options: argparse.Namespace) -> None:
    only = set(options.scenarios)
    print(f"machine: {machine()}", flush=True)
    base_port, sim_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{base_port}/health"
    sim_url = f"http://127.0.0.1:{sim_port}/__admin/health"
    database_url = f"sqlite:///{tempfile.mkdtemp(prefix='simbench-')}/bench.db"
    # One server starting at a time, each timed from its own start: the baseline, the simulator
    # on a new store (schema and default tenant created), then again on that store.
    running: list[subprocess.Popen] = []
    try:
        baseline, baseline_start = start_timed(lambda: start_baseline(base_port), base_url)
        running.append(baseline)
        BASELINE_PORT.append(base_port)
        simulator, new_store = start_timed(lambda: start_simulator(sim_port, database_url), sim_url)
        stop(simulator)
        simulator, existing_store = start_timed(
            lambda: start_simulator(sim_port, database_url), sim_url
        )
        running.append(simulator)
        started = {
            "name": "start to healthy (s)",
            "baseline": round(baseline_start, 2),
            "simulator, new store": round(new_store, 2),
            "simulator, existing store": round(existing_store, 2),
        }
        print_rows([started], 0)
        base = await run_load(
            "baseline: bare FastAPI GET (same bytes as /__admin/health)",
            base_port,
            baseline_request(base_port),
        )
        baseline_rps = base.rps
        rows = [base.row()]
        health = await run_load(
            "GET /__admin/health",
            sim_port,
            build_request("GET", "/__admin/health", sim_port),
        )
        rows.append(health.row())
        print_rows(rows, baseline_rps)
        for name in SCENARIO_MODULES:
            if only and name not in only:
                continue
            try:
                module = importlib.import_module(f"bench.{name}")
            except ModuleNotFoundError:
                continue
            # The machine's speed drifts within a run: each scenario is compared with a
            # baseline measured just before it.
            adjacent = await run_load(
                f"baseline before {name}",
                base_port,
                baseline_request(base_port),
                seconds=2,
            )
            print_rows([adjacent.row()], 0)
            try:
                print_rows(await module.run(sim_port), adjacent.rps or baseline_rps)
            except Exception as exc:  # one broken scenario must not hide the others
                print_rows([{"name": f"{name}: failed", "error": repr(exc)}], 0)
    finally:
        for process in running:
            stop(process)
        print_tables(ROWS)
        if options.json:
            write_json(options.json, ROWS)


if __name__ == "__main__":
    asyncio.run(main(arguments()))
