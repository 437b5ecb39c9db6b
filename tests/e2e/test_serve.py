"""A real `simulator serve` process on a free port."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import live_database_url, start_server, stop_server


def test_live_server_answers_health_and_creates_tenants(live_server) -> None:
    assert httpx.get(f"{live_server.url}/__admin/health").json() == {"status": "ok"}
    tenant = live_server.new_tenant()
    assert set(tenant["credentials"]) == {"customergauge", "clienttoolbox", "talonone", "ecdp"}


def test_start_to_healthy_prints_address_and_credentials(tmp_path: Path) -> None:
    started = time.monotonic()
    server = start_server(live_database_url(tmp_path, "sim_e2e_start"))
    elapsed = time.monotonic() - started
    try:
        assert httpx.get(f"{server.url}/__admin/health").status_code == 200
    finally:
        stop_server(server)
    output = server.process.stdout.read().decode()
    assert server.url in output
    assert "cg-sandbox-key" in output and "talon-sandbox-key" in output
    # Generous bound for a loaded CI machine; the README gives the measured figure.
    assert elapsed < 15


def test_state_survives_a_restart(tmp_path: Path) -> None:
    database_url = live_database_url(tmp_path, "sim_e2e_restart")
    server = start_server(database_url)
    try:
        tenant = server.new_tenant(name="persist")
    finally:
        stop_server(server)
    server = start_server(database_url)
    try:
        response = httpx.get(f"{server.url}/__admin/tenants/{tenant['id']}")
        assert response.status_code == 200
        assert response.json()["name"] == "persist"
    finally:
        stop_server(server)
