"""The Inspector's lists on a large tenant: each page it reads (through the admin API, as the
page does) for a tenant with 100,000 journal entries and a ledger of 100,000 lots and as many
transactions. In-process (TestClient) on a temporary SQLite store, so the figure is the admin
API's own time, not the network's; the server on `port` is not used.
`python -m bench.inspector N` runs it with N rows.

Rows: the median of 5 reads of each page (first page, a deep page, each filter, the live poll),
against the target of < 200 ms a page.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROWS = 100_000
TARGET_MS = 200
REPEATS = 5
TENANT = "default"
PROFILE = "bench-ledger-profile"
BODY = '{"customerSession":{"profileId":"customer-%d","cartItems":[{"sku":"SKU-%d","quantity":1}]}}'


def journal_rows(count: int) -> list[dict[str, Any]]:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    apis = ("talonone", "ecdp", "customergauge", "clienttoolbox")
    return [
        {
            "tenant_id": TENANT,
            "api": apis[i % 4],
            "operation": "UpdateCustomerSessionV2" if i % 4 == 0 else "GetCustomerByEmail",
            "method": "PUT" if i % 4 == 0 else "GET",
            "path": f"/v2/customer_sessions/s-{i}",
            "query": "",
            "status": 503 if i % 97 == 0 else 200,
            "duration_ms": 1.5,
            "fault": "1" if i % 97 == 0 else None,
            "request_headers": '{"content-type":"application/json"}',
            "request_body": BODY % (i, i),
            "response_body": '{"effects":[]}',
            "response_headers": '{"content-type":"application/json"}',
            "created_at": started + timedelta(milliseconds=10 * i),
        }
        for i in range(count)
    ]


def ledger_rows(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    lots, transactions = [], []
    for i in range(1, count + 1):
        start = created + timedelta(days=i % 30) if i % 3 == 0 else None
        expiry = created + timedelta(days=365)
        common = {
            "tenant_id": TENANT,
            "id": 1_000_000 + i,
            "program_id": 1,
            "profile_id": PROFILE,
            "card_identifier": "",
            "subledger_id": "",
            "start_text": start.isoformat() if start else "immediate",
            "expiry_text": expiry.isoformat(),
            "validity_duration": None,
            "session_id": f"s-{i}",
            "name": "bench",
            "amount": 10.0,
            "created": created + timedelta(minutes=i),
        }
        transactions.append(
            {**common, "uuid": f"bench-{i}", "type": "addition", "kind": "session", "action": "add"}
        )
        lots.append(
            {
                **common,
                "transaction_id": 1_000_000 + i,
                "transaction_uuid": f"bench-{i}",
                "remaining": 10.0 if i % 5 else 0.0,
                "revoked": 0.0,
                "on_action": False,
                "start_at": start,
                "expiry_at": expiry,
                "start_ts": start.timestamp() if start else -1.0,
                "expiry_ts": expiry.timestamp(),
            }
        )
    return lots, transactions


def fill(engine: Any, count: int) -> None:
    from sqlalchemy import insert

    from simulator.core import journal
    from simulator.core.db import new_session
    from simulator.talonone.models import TalonLoyaltyLot, TalonLoyaltyTransaction

    entries = journal_rows(count)
    with new_session(journal.store_of(engine)) as session:
        for part in range(0, count, 5000):
            journal.insert_entries(session, entries[part : part + 5000])
        session.commit()
    lots, transactions = ledger_rows(count)
    with new_session(engine) as session:
        session.execute(insert(TalonLoyaltyTransaction.__table__), transactions)
        session.execute(insert(TalonLoyaltyLot.__table__), lots)
        session.commit()


def timed(client: Any, path: str, params: dict[str, Any]) -> tuple[float, int]:
    """The median of REPEATS reads, in ms, and the last answer's status."""
    times, status = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return statistics.median(times), status


def pages(count: int) -> list[tuple[str, str, dict[str, Any]]]:
    ledger = f"/__admin/tenants/{TENANT}/talonone/loyalty/programs/1/ledger"
    owner = {"profileId": PROFILE, "limit": 50}
    page = {"tenant": TENANT, "limit": 50}
    return [
        ("traffic: newest page", "/__admin/requests", page),
        ("traffic: a deep page (before)", "/__admin/requests", {**page, "before": count // 10}),
        ("traffic: live poll (after the newest)", "/__admin/requests", {**page, "after": count}),
        ("traffic: api filter", "/__admin/requests", {**page, "api": "ecdp"}),
        (
            "traffic: operation filter",
            "/__admin/requests",
            {**page, "operation": "GetCustomerByEmail"},
        ),
        ("traffic: status 5xx (1 in 97)", "/__admin/requests", {**page, "status": "5xx"}),
        ("traffic: text in bodies (common)", "/__admin/requests", {**page, "q": "SKU-1"}),
        (
            "traffic: text in bodies (no match: every entry read)",
            "/__admin/requests",
            {**page, "q": "nowhere"},
        ),
        ("ledger: first page with totals and chart", ledger, owner),
        ("ledger: a deep page", ledger, {**owner, "start": count - 50}),
        ("ledger: pending lots", ledger, {**owner, "status": "pending"}),
    ]


def measure(count: int = ROWS) -> list[dict]:
    from fastapi.testclient import TestClient

    from simulator.app import create_app
    from simulator.config import Settings
    from simulator.core import caches

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        caches.clear()
        settings = Settings(database_url=url, fixtures="default", journal_max_entries=count * 2)
        app = create_app(settings)
        with TestClient(app) as client:
            fill(app.state.engine, count)
            for name, path, params in pages(count):
                ms, status = timed(client, path, params)
                rows.append(
                    {
                        "name": f"inspector: {name}, {count} rows",
                        "ms": round(ms, 1),
                        "status": status,
                        "target": f"< {TARGET_MS} ms",
                    }
                )
        app.state.engine.dispose()
    return rows


async def run(port: int) -> list[dict]:
    return await asyncio.to_thread(measure)


if __name__ == "__main__":
    import json
    import sys

    for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS):
        print(json.dumps(row))
