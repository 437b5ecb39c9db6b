"""The fuzz suite's app, hypothesis profile and request count.

One app per test module on a fresh store (an SQLite file, or the PostgreSQL database of
SIM_TEST_DATABASE_URL, emptied first), with the `default` fixtures and a journal large enough
that nothing is trimmed while a test counts its entries. The hypothesis profile `fuzz` is
derandomized (the same examples on every run, so CI is deterministic) and bounded:
SIM_FUZZ_EXAMPLES raises the number of examples per test for a longer local run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import Engine

from simulator.app import create_app
from simulator.config import Settings
from tests.conftest import POSTGRES_URL, empty_postgres
from tests.fuzz.hostile import Probe
from tests.fuzz.shapes import owner, problem_of, send

EXAMPLES = int(os.environ.get("SIM_FUZZ_EXAMPLES", "150"))
settings.register_profile(
    "fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("fuzz")

# Requests sent by this run, and what went wrong, for the summary at the end.
TRIED: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_client(
    tmp_path_factory: pytest.TempPathFactory, postgres_engine: Engine | None
) -> Iterator[TestClient]:
    if postgres_engine is not None:
        empty_postgres(postgres_engine)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.db'}"
    app = create_app(
        Settings(
            database_url=url,
            fixtures="default",
            journal_flush_seconds=0.05,
            journal_max_entries=1_000_000,
            seed=7,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


class Session:
    """The requests of one test: each checked as it is answered, counted for the journal."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.journal_before = newest_journal_id(client)
        self.journaled = 0  # requests on an API path (the admin API is not journaled)

    def check(self, probe: Probe) -> Any:
        """Send the probe; fail on a 5xx or an answer outside the owning API's error shape."""
        response = send(self.client, probe)
        api = owner(response)
        TRIED[api] += 1
        if api != "admin":
            self.journaled += 1
        problem = problem_of(response, api)
        if problem is not None:
            TRIED["problems"] += 1
        assert problem is None, f"{probe.describe()}\n=> {problem}"
        return response

    def journal_entries(self) -> int:
        """Entries the journal holds since the session began (one per API request)."""
        entries = journal(self.client, 10_000)
        newer = [entry for entry in entries if entry["id"] > self.journal_before]
        assert len(newer) < 10_000, "too many requests for one test to count its journal"
        return len(newer)


@pytest.fixture
def requests_of(fuzz_client: TestClient) -> Iterator[Session]:
    """The test's requests; afterwards every one of them is in the journal and the server is
    healthy."""
    session = Session(fuzz_client)
    yield session
    entries = session.journal_entries()
    assert entries == session.journaled
    assert_healthy(fuzz_client)


def journal(client: TestClient, limit: int) -> list[dict[str, Any]]:
    response = client.get("/__admin/requests", params={"limit": limit})
    assert response.status_code == 200, response.text
    return response.json()["requests"]


def newest_journal_id(client: TestClient) -> int:
    entries = journal(client, 1)
    return entries[0]["id"] if entries else 0


def assert_healthy(client: TestClient) -> None:
    assert client.get("/__admin/health").json() == {"status": "ok"}
    for path, headers in HEALTHY_READS:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)


HEALTHY_READS = [
    ("/customers/id/1", {"x-api-key": "ecdp-sandbox-key"}),
    (
        "/v1/loyalty_programs/1/profile/loyalty-demo-1/balances",
        {"Authorization": "ApiKey-v1 talon-sandbox-key"},
    ),
    ("/v4.1/lists/bounce.json", {"Authorization": "api_key cg-sandbox-key"}),
    (
        "/?API=1.5&user_id=sandbox&user_api_key=ct-sandbox-key&account_id=sandbox"
        "&type=manage_fields&action=list",
        {},
    ),
]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TRIED:
        tried = {k: v for k, v in sorted(TRIED.items()) if k != "problems"}
        terminalreporter.write_line(
            f"fuzz: {sum(tried.values())} requests tried {tried}, "
            f"{TRIED['problems']} answered 5xx or outside the owning API's shape"
        )
