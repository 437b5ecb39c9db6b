"""Shared test fixtures.

- `app` / `client`: the app in-process on a fresh store (SQLite file per test, or the
  PostgreSQL database of SIM_TEST_DATABASE_URL, emptied before each test).
- `live_server`: a real `simulator serve` process on a free port (one per test session).
- `new_tenant`: creates a tenant through the admin API and returns its description.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from simulator.app import create_app
from simulator.config import Settings
from simulator.core import caches
from simulator.core.db import make_engine

POSTGRES_URL = os.environ.get("SIM_TEST_DATABASE_URL")
ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CREDENTIALS = {
    "customergauge": {"Authorization": "api_key cg-sandbox-key"},
    "talonone": {"Authorization": "ApiKey-v1 talon-sandbox-key"},
    "ecdp": {"x-api-key": "ecdp-sandbox-key"},
    "clienttoolbox": {
        "API": "1.5",
        "user_id": "sandbox",
        "user_api_key": "ct-sandbox-key",
        "account_id": "sandbox",
    },
}


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine | None]:
    if not POSTGRES_URL:
        yield None
        return
    import simulator.models_index  # noqa: F401

    engine = make_engine(POSTGRES_URL)
    from simulator.core.schema import stamp_head

    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    stamp_head(engine)
    yield engine
    engine.dispose()


def empty_postgres(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(tmp_path: Path, postgres_engine: Engine | None) -> str:
    if postgres_engine is not None:
        empty_postgres(postgres_engine)
        return POSTGRES_URL  # type: ignore[return-value]
    return f"sqlite:///{tmp_path / 'simulator.db'}"


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "fixtures": "default",
            "journal_flush_seconds": 0.05,
            # A writer process per app would cost the suite minutes of start-ups: the apps
            # built here write their journal in a thread; live servers (`simulator serve`) and
            # tests/core/test_journal_process.py use the process.
            "journal_writer_process": False,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Build an app with settings overrides and enter its lifespan; closed after the test."""
    opened: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        caches.clear()  # nothing this process kept of an earlier test's store
        app = create_app(make_settings(**overrides))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield build
    for client in opened:
        client.__exit__(None, None, None)
        client.app.state.engine.dispose()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def app(client: TestClient) -> Any:
    return client.app


def create_tenant(http: Any, fixtures: Any = "default", name: str | None = None) -> dict:
    response = http.post("/__admin/tenants", json={"name": name, "fixtures": fixtures})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def new_tenant(client: TestClient) -> Callable[..., dict]:
    return lambda fixtures="default", name=None: create_tenant(client, fixtures, name)


# --- a real server process -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_database_url(tmp_path: Path, schema: str) -> str:
    """A store of the live server's own: an SQLite file, or a schema of the test PostgreSQL."""
    if not POSTGRES_URL:
        return f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


# A hang guard, not a speed check: a start takes ~1 s, but 12-20 s on a machine loaded by a
# parallel suite (make bench measures the start).
START_GUARD_SECONDS = 60


class LiveServer:
    def __init__(self, url: str, process: subprocess.Popen, database_url: str) -> None:
        self.url = url
        self.process = process
        self.database_url = database_url

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def new_tenant(self, fixtures: Any = "default", name: str | None = None) -> dict:
        with self.admin() as http:
            return create_tenant(http, fixtures, name)


def start_server(
    database_url: str, extra_env: dict[str, str] | None = None, args: list[str] | None = None
) -> LiveServer:
    port = free_port()
    env = {**os.environ, "SIM_DATABASE_URL": database_url, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", str(port), *(args or [])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_GUARD_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"simulator exited early:\n{output}")
        try:
            if httpx.get(f"{url}/__admin/health", timeout=0.5).status_code == 200:
                return LiveServer(url, process, database_url)
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"simulator did not become healthy in {START_GUARD_SECONDS} s")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database_url = live_database_url(tmp_path_factory.mktemp("live"), "sim_live")
    server = start_server(database_url)
    yield server
    stop_server(server)
