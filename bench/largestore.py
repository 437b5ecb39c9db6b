"""The same requests on a small store and on a large one: cost that stays flat as data grows.

Both stores are built the same way, by the simulator itself from one fixture document: the
default world plus `customers` generated Talon.One profiles (10% of them in each of its two
audiences: ~20,000 memberships at 100,000) and ECDP customers, and one closed session per
profile. Small: 1,000 customers; large: 100,000. Each is built once and kept under
var/bench-cache/ by seed, size and schema revision (the large one takes about a minute); a run
works on a copy.

The requests are realistic: the session update names no `evaluableCampaignIds` (every
campaign is evaluated, the audience one included) and its profiles are drawn from the store's
own, members of an audience among them; reads vary over 1,000 stored sessions, profiles and
customers. SIM_BENCH_NO_STATISTICS=1 drops the planner's statistics from both copies (what
the indexes alone give). Each scenario runs eight short rounds, the stores alternating, each
run paired with the bare-stack baseline (bench/load.compared_load); the row gives the medians
and the median of the rounds' ratios, each round's two runs measured one right after the
other (the machine's speed drifts by a tenth within seconds here: a ratio of two runs side by
side moves less than a ratio of two medians taken over different seconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.load import HOST, build_request, compared_load, median

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SIM_BENCH_CACHE", ROOT / "var" / "bench-cache"))
SEED = 7
SIZES = {"small store": 1_000, "large store": 100_000}
SAMPLE = 1_000  # distinct profiles, sessions and customers a scenario's requests go over
ROUNDS = 12  # paired rounds: a median of 8 still moved by ±0.05 between runs
SECONDS = 1.5
TARGET = 0.9  # large store / small store, every scenario
TALON = {"Authorization": "ApiKey-v1 talon-sandbox-key", "Content-Type": "application/json"}
ECDP = {"x-api-key": "ecdp-sandbox-key", "Content-Type": "application/json"}
SKUS = ["SKU-SHOE-1", "SKU-SHOE-2", "SKU-SHIRT-1", "SKU-SOCK-1", "SKU-OTHER"]
# Only Talon.One profiles and ECDP customers are generated (the other APIs' volume is not what
# these scenarios read).
ZERO_COUNTS = (
    "talonone.loyalty_percent",
    "talonone.cards",
    "talonone.coupons",
    "talonone.referrals",
    "clienttoolbox.customers",
    "clienttoolbox.balances",
    "customergauge.unsubscribe",
    "customergauge.bounce",
)


def document(customers: int) -> dict:
    """The store's fixture document: generated volume and one closed session per profile."""
    sessions = [
        {
            "integrationId": f"stored-{n}",
            "profileId": f"gen-customer-{n:06d}",
            "state": "closed",
            "cartItems": [
                {"sku": SKUS[n % len(SKUS)], "quantity": 1 + n % 3, "price": 10 + n % 50},
                {"sku": SKUS[(n + 1) % len(SKUS)], "quantity": 1, "price": 5},
            ],
            "attributes": {"Channel": "web"},
        }
        for n in range(1, customers + 1)
    ]
    return {
        "extends": "default",
        "generate": {
            "seed": SEED,
            "customers": customers,
            "counts": dict.fromkeys(ZERO_COUNTS, 0),
        },
        "talonone": {"sessions": sessions},
    }


def schema_revision() -> str:
    from simulator.core.schema import code_revisions

    return code_revisions()[1] or "unknown"


def cache_key(customers: int) -> str:
    """Seed, size, schema revision and what the store is built from (the default set, the
    document, the migrations: a schema changed within a revision gets a new store too)."""
    sources = hashlib.sha256(json.dumps(document(customers)).encode())
    sources.update((ROOT / "simulator" / "fixture_sets" / "default.yaml").read_bytes())
    for migration in sorted((ROOT / "simulator" / "migrations" / "versions").glob("*.py")):
        sources.update(migration.read_bytes())
    digest = sources.hexdigest()[:12]
    return f"store-{customers}-seed{SEED}-rev{schema_revision()}-{digest}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def serve(database: Path, port: int, fixtures: str | None = None) -> subprocess.Popen:
    """The simulator on `database`; without `fixtures` the default tenant is kept as stored."""
    command = [sys.executable, "-m", "simulator", "serve", "--port", str(port)]
    command += ["--db", f"sqlite:///{database}"]
    if fixtures:
        command += ["--fixtures", fixtures]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ
    )


async def wait_healthy(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the simulator exited while starting")
            try:
                if (await http.get(f"http://{HOST}:{port}/__admin/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the simulator was not healthy in {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Store:
    """A built store and samples of what it holds (its profiles, sessions, customers)."""

    name: str
    path: Path
    profiles: list[str]  # audience members first, then others
    members: int
    sessions: list[str]
    emails: list[str]


def sample(rows: list[str], count: int, rng: random.Random) -> list[str]:
    return rng.sample(rows, min(count, len(rows)))


def read_samples(name: str, path: Path) -> Store:
    rng = random.Random(SEED)
    with sqlite3.connect(path) as connection:

        def column(sql: str) -> list[str]:
            return [value for (value,) in connection.execute(sql)]

        members = column(
            "SELECT DISTINCT profile_integration_id FROM talonone_audience_membership"
            " WHERE tenant_id = 'default'"
        )
        profiles = column(
            "SELECT integration_id FROM talonone_profile WHERE tenant_id = 'default'"
            " AND integration_id LIKE 'gen-customer-%'"
        )
        sessions = column(
            "SELECT integration_id FROM talonone_session WHERE tenant_id = 'default'"
            " AND integration_id LIKE 'stored-%'"
        )
        emails = column(
            "SELECT email FROM ecdp_customer WHERE tenant_id = 'default' AND crm_id LIKE 'GEN-%'"
        )
    # A fifth of the profiles are audience members: about their share of the generated ones.
    chosen_members = sample(members, SAMPLE // 5, rng)
    others = sample(sorted(set(profiles) - set(members)), SAMPLE - len(chosen_members), rng)
    return Store(
        name,
        path,
        chosen_members + others,
        len(chosen_members),
        sample(sessions, SAMPLE, rng),
        sample(emails, SAMPLE, rng),
    )


async def build(customers: int) -> Path:
    """The cached store of this size, built first if missing (by the simulator, from the
    document), then analyzed as any large load is."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = cache_key(customers)
    stored = CACHE / f"{key}.db"
    if stored.exists():
        return stored
    work = Path(tempfile.mkdtemp(prefix="simbench-build-", dir=CACHE))
    try:
        fixtures = work / f"{key}.json"
        fixtures.write_text(json.dumps(document(customers)))
        database = work / "store.db"
        port = free_port()
        process = serve(database, port, str(fixtures))
        try:
            await wait_healthy(port, process, timeout=900)
        finally:
            stop(process)
        with sqlite3.connect(database) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        database.replace(stored)
        return stored
    finally:
        shutil.rmtree(work, ignore_errors=True)


def drop_statistics(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE IF EXISTS sqlite_stat1")
        connection.execute("DROP TABLE IF EXISTS sqlite_stat4")


@dataclass
class Scenario:
    name: str
    make: Callable[[Store, int, str], Callable[[int], bytes]]


def session_body(profile: str, n: int) -> bytes:
    items = [
        {"sku": SKUS[i % len(SKUS)], "quantity": 1 + i % 3, "price": 10 + i, "name": f"Item {i}"}
        for i in range(10)
    ]
    session = {
        "profileId": profile,
        "cartItems": items,
        "additionalCosts": {"shipping": {"price": 4.95}},
        "attributes": {"Channel": "web"},
    }
    return json.dumps({"customerSession": session}).encode()


def session_updates(store: Store, port: int, run: str) -> Callable[[int], bytes]:
    bodies = [session_body(profile, n) for n, profile in enumerate(store.profiles)]

    def request(i: int) -> bytes:
        path = f"/v2/customer_sessions/bench-{run}-{i}"
        return build_request("PUT", path, port, TALON, bodies[i % len(bodies)])

    return request


def varied_get(paths: list[str], port: int, headers: dict) -> Callable[[int], bytes]:
    requests = [build_request("GET", path, port, headers) for path in paths]
    return lambda i: requests[i % len(requests)]


def upserts(store: Store, port: int, run: str) -> Callable[[int], bytes]:
    """AddOrUpdate of 10 stored customers by e-mail (found, then updated)."""
    emails = store.emails

    def request(i: int) -> bytes:
        data = [
            {"email": emails[(i * 10 + k) % len(emails)], "lastName": f"Run{run}-{i}"}
            for k in range(10)
        ]
        body = json.dumps({"mode": "AddOrUpdate", "matchBy": "Email", "data": data})
        return build_request("POST", "/customers", port, ECDP, body)

    return request


SCENARIOS = (
    Scenario(
        "large store: talonone PUT /v2/customer_sessions/{id} (new, 10 items, every campaign)",
        session_updates,
    ),
    Scenario(
        "large store: talonone GET /v2/customer_sessions/{id} (1,000 stored sessions)",
        lambda store, port, _run: varied_get(
            [f"/v2/customer_sessions/{s}" for s in store.sessions], port, TALON
        ),
    ),
    Scenario(
        "large store: talonone GET /v1/customer_profiles/{id}/inventory?profile=true",
        lambda store, port, _run: varied_get(
            [f"/v1/customer_profiles/{p}/inventory?profile=true" for p in store.profiles],
            port,
            TALON,
        ),
    ),
    Scenario(
        "large store: ecdp GET /customers/email/{email} (1,000 stored customers)",
        lambda store, port, _run: varied_get(
            [f"/customers/email/{e}" for e in store.emails], port, ECDP
        ),
    ),
    Scenario("large store: ecdp POST /customers AddOrUpdate 10 stored customers", upserts),
)


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process `pid` has used, all its threads (Linux's /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms_per_request(before: float | None, after: float | None, requests: int) -> float | None:
    if before is None or after is None or not requests:
        return None
    return 1000 * (after - before) / requests


async def measure(stores: list[Store], ports: dict[str, int], pids: dict[str, int]) -> list[dict]:
    """Each scenario in ROUNDS rounds, the stores alternating; per store its req/s and the
    server's CPU a request (steadier than req/s on a shared machine: steal and the load
    generator on the same cores move req/s, not the work a request costs)."""
    rows = []
    for scenario in SCENARIOS:
        figures: dict[str, list[float]] = {store.name: [] for store in stores}
        cpu: dict[str, list[float]] = {store.name: [] for store in stores}
        ratios: dict[str, list[float]] = {store.name: [] for store in stores}
        p99: dict[str, list[float]] = {store.name: [] for store in stores}
        statuses: dict[str, dict] = {store.name: {} for store in stores}
        for round_number in range(ROUNDS):
            order = stores if round_number % 2 == 0 else list(reversed(stores))
            for store in order:
                port = ports[store.name]
                run = f"{round_number}{store.name[0]}"
                cpu_before = cpu_seconds(pids[store.name])
                result = await compared_load(
                    scenario.name,
                    port,
                    scenario.make(store, port, run),
                    seconds=SECONDS,
                    slices=2,
                )
                figures[store.name].append(result.rps)
                spent = cpu_ms_per_request(cpu_before, cpu_seconds(pids[store.name]), result.issued)
                if spent is not None:
                    cpu[store.name].append(spent)
                ratios[store.name].append(result.rps / (result.baseline_rps or result.rps))
                p99[store.name].append(result.percentile(0.99))
                for status, count in result.statuses.items():
                    statuses[store.name][status] = statuses[store.name].get(status, 0) + count
        small, large = (figures[store.name] for store in stores)
        paired = [big / little for big, little in zip(large, small, strict=True) if little]
        row = {"name": scenario.name}
        for store in stores:
            row[f"{store.name} req/s"] = round(median(figures[store.name]))
            row[f"{store.name} vs baseline"] = f"{100 * median(ratios[store.name]):.0f}%"
            row[f"{store.name} p99 ms"] = round(median(p99[store.name]), 2)
            row[f"{store.name} CPU ms a request"] = (
                round(median(cpu[store.name]), 3) if cpu[store.name] else None
            )
        row["large / small"] = round(median(paired), 2) if paired else None
        small_cpu, large_cpu = (cpu[store.name] for store in stores)
        row["CPU small / large"] = (
            round(median(small_cpu) / median(large_cpu), 2) if small_cpu and large_cpu else None
        )
        row["statuses"] = {name: counts for name, counts in statuses.items()}
        row["target"] = f"large / small >= {TARGET}"
        rows.append(row)
    return rows


async def run(_port: int) -> list[dict]:
    """Build (or find) both stores, start a simulator on a copy of each, measure them."""
    built = time.monotonic()
    paths = {name: await build(size) for name, size in SIZES.items()}
    build_seconds = time.monotonic() - built
    work = Path(tempfile.mkdtemp(prefix="simbench-stores-"))
    processes: list[subprocess.Popen] = []
    try:
        stores, ports = [], {}
        for name, path in paths.items():
            copy = work / f"{name.split()[0]}.db"
            shutil.copyfile(path, copy)
            if os.environ.get("SIM_BENCH_NO_STATISTICS"):
                drop_statistics(copy)  # what the plans get from the indexes alone
            stores.append(read_samples(name, copy))
            ports[name] = free_port()
            processes.append(serve(copy, ports[name]))
        for process, port in zip(processes, ports.values(), strict=True):
            await wait_healthy(port, process, timeout=120)
        rows = [
            {
                "name": "large store: what it holds",
                "talonone profiles and sessions": SIZES["large store"],
                "ecdp customers": SIZES["large store"],
                "small store": SIZES["small store"],
                "built or found in s": round(build_seconds, 1),
            }
        ]
        pids = {store.name: process.pid for store, process in zip(stores, processes, strict=True)}
        return rows + await measure(stores, ports, pids)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":  # python -m bench.largestore: builds the stores, measures them alone
    print(json.dumps(asyncio.run(run(0)), indent=2))
