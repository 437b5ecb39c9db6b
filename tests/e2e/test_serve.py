"""A real `simulator serve` process on a free port."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import (
    DEFAULT_CREDENTIALS,
    ROOT,
    live_database_url,
    start_server,
    stop_server,
)


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
    # Only a hang guard (a loaded machine took 18 s): the speed is `make bench`'s to show.
    assert elapsed < 60


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


def default_document() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "fixtures" / "default.yaml").read_text(encoding="utf-8"))


def assert_default_tenant_serves(url: str, document: dict[str, Any]) -> None:
    """One call per API with the default credentials, each answering from the default fixtures."""
    with httpx.Client(base_url=url, timeout=10) as http:
        customer = document["ecdp"]["customers"][0]
        response = http.get(
            f"/customers/email/{customer['email']}", headers=DEFAULT_CREDENTIALS["ecdp"]
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["firstName"] == customer["firstName"]

        response = http.post(
            "/api.php",
            data={
                **DEFAULT_CREDENTIALS["clienttoolbox"],
                "type": "campaigns_list",
                "output": "JSON",
            },
        )
        assert response.status_code == 200, response.text
        listed = {campaign["id"] for campaign in response.json()["campaigns"]["campaign"]}
        assert document["clienttoolbox"]["campaigns"][0]["id"] in listed

        response = http.get(
            "/v4.1/lists/unsubscribe.json", headers=DEFAULT_CREDENTIALS["customergauge"]
        )
        assert response.status_code == 200, response.text
        unsubscribed = {entry["Email"] for entry in response.json()["Data"]}
        assert document["customergauge"]["unsubscribe"][0]["email"] in unsubscribed

        program = document["talonone"]["loyaltyPrograms"][0]
        profile = program["transactions"][0]["profileId"]
        response = http.get(
            f"/v1/loyalty_programs/{program['id']}/profile/{profile}/balances",
            headers=DEFAULT_CREDENTIALS["talonone"],
        )
        assert response.status_code == 200, response.text
        points = sum(
            entry["amount"]
            for entry in program["transactions"]
            if entry["profileId"] == profile and not entry.get("subledgerId")
        )
        assert response.json()["balance"]["activePoints"] == points


def test_the_default_tenant_serves_every_api_as_soon_as_health_answers(tmp_path: Path) -> None:
    """On a new store (schema and default tenant created at start) and again on the same store."""
    database_url = live_database_url(tmp_path, "sim_e2e_ready")
    document = default_document()
    for _store in ("new", "existing"):
        server = start_server(database_url)  # returns at the first 200 from /__admin/health
        try:
            assert_default_tenant_serves(server.url, document)
        finally:
            stop_server(server)
