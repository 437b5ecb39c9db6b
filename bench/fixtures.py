"""Fixture loading speed: a generated document (the default world's configuration plus
`generate: {customers: 12500}`, i.e. 50,000 customers across the four APIs) expanded and loaded
into a new tenant, in-process through `simulator.core.tenants.create` on a temporary SQLite store
(the server on `port` is not used). `python -m bench.fixtures N` runs it with N per API.

Rows: expanding the `generate:` block (the generators), then creating a tenant from the expanded
document (`tenants.create`: validate every section, write, commit) -- the load the target is for.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

CUSTOMERS = 12_500  # per API: 50,000 customers across the four APIs
TARGET = "< 10 s"


def generated_document(customers: int) -> dict[str, Any]:
    from simulator.config import Settings
    from simulator.core import fixtures

    document, _ = fixtures.resolve("default", Settings().fixtures_dir)
    return {**document, "generate": {"seed": 7, "customers": customers}}


def measure(customers: int = CUSTOMERS) -> list[dict]:
    import simulator.models_index  # noqa: F401
    from simulator.config import Settings
    from simulator.core import tenants
    from simulator.core.db import make_engine, new_session
    from simulator.core.generate import expand
    from simulator.core.schema import ensure_schema

    started = time.perf_counter()
    document = expand(generated_document(customers), "<bench>")
    generated = time.perf_counter() - started
    rows = [
        {
            "name": f"generate {customers} customers x 4 APIs (expand the generate: block)",
            "customers": customers * 4,
            "ms": round(generated * 1000),
        }
    ]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        try:
            ensure_schema(engine, True)
            settings = Settings(database_url=url, fixtures="none")
            with new_session(engine) as session:
                started = time.perf_counter()
                tenants.create(session, settings, "bench", document)
                elapsed = time.perf_counter() - started
        finally:
            engine.dispose()
    rows.append(
        {
            "name": f"load the generated document ({customers} customers x 4 APIs) into a new"
            " tenant, in-process, SQLite",
            "ms": round(elapsed * 1000),
            "customers": customers * 4,
            "target": TARGET,
        }
    )
    return rows


async def run(port: int) -> list[dict]:
    return await asyncio.to_thread(measure)


if __name__ == "__main__":
    import sys

    for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS):
        print(row)
