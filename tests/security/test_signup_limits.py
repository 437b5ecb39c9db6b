"""Open sign-up has the limits of a public sandbox: a maximum number of tenants, a creation rate
per client address, and a cap on what a signed-up tenant stores; each refusal in the caller's
own shape (the admin API's JSON, or the API's own error for the tenant's calls). The operator's
token is not limited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.core import quotas
from tests.conftest import ROOT, free_port, live_database_url, start_server, stop_server
from tests.security.conftest import BEARER, TOKEN, store_snapshot


def signup_client(make_client: Any, **overrides: Any) -> Any:
    return make_client(admin_token=TOKEN, open_signup=True, **overrides)


def test_sign_up_stops_at_the_maximum_number_of_tenants(make_client: Any) -> None:
    client = signup_client(make_client, max_tenants=3)  # `default` is one of them
    for _ in range(2):
        assert client.post("/__admin/tenants", json={"fixtures": "empty"}).status_code == 201
    before = store_snapshot(client.app.state.engine)
    refused = client.post("/__admin/tenants", json={"fixtures": "empty"})
    assert refused.status_code == 429
    assert refused.json() == {
        "error": "sign-up closed: the sandbox holds its maximum of 3 tenants",
        "status": 429,
    }
    assert store_snapshot(client.app.state.engine) == before
    # The operator is not limited.
    created = client.post("/__admin/tenants", json={"fixtures": "empty"}, headers=BEARER)
    assert created.status_code == 201


def test_sign_up_rate_is_per_client_address(make_client: Any) -> None:
    client = signup_client(make_client, signups_per_hour=2)
    statuses = [
        client.post("/__admin/tenants", json={"fixtures": "empty"}).status_code for _ in range(2)
    ]
    assert statuses == [201, 201]
    # Every attempt counts, a refused document too.
    refused = client.post("/__admin/tenants", json={"fixtures": "empty"})
    assert refused.status_code == 429
    assert refused.json()["error"].startswith("sign-up rate limit: 2 tenants an hour per client")
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    # The operator is not limited.
    assert client.post("/__admin/tenants", json={}, headers=BEARER).status_code == 201


def test_sign_up_limits_are_checked_before_the_body_is_read(make_client: Any) -> None:
    client = signup_client(make_client, signups_per_hour=1)
    assert client.post("/__admin/tenants", json={"fixtures": "empty"}).status_code == 201
    deep = b"[" * 100_000 + b"]" * 100_000  # would be a 400 if it were read
    refused = client.post("/__admin/tenants", content=deep, headers={"content-type": "x"})
    assert refused.status_code == 429


def test_a_signed_up_tenant_gets_the_records_cap(make_client: Any) -> None:
    client = signup_client(make_client, signup_max_records=5)
    tenant = client.post("/__admin/tenants", json={"fixtures": "empty"}).json()
    assert tenant["quotas"]["records"] == 5
    operator_tenant = client.post("/__admin/tenants", json={"fixtures": "empty"}, headers=BEARER)
    assert operator_tenant.json()["quotas"]["records"] is None
    # The tenant's writes over the cap get the API's own 429.
    headers = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    customers = [{"email": f"c{i}@example.com"} for i in range(6)]
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": customers}
    assert client.post("/customers", json=body, headers=headers).status_code == 201
    quotas._record_counts.clear()  # counted at most every 5 s per process
    refused = client.post("/customers", json=body, headers=headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["status"] == 429


@pytest.mark.parametrize(
    "document",
    [
        {"generate": {"customers": 1_000}},
        {"generate": {"customers": 1, "counts": {"talonone.coupons": 100_000}}},
        {"extends": "demo"},  # 300 generated customers in every API
    ],
    ids=["customers", "counts", "a big set"],
)
def test_fixtures_over_the_cap_are_refused_with_413(make_client: Any, document: dict) -> None:
    client = signup_client(make_client, signup_max_records=500)
    before = store_snapshot(client.app.state.engine)
    response = client.post("/__admin/tenants", json={"fixtures": document})
    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert "at most 500 records" in response.json()["error"]
    assert store_snapshot(client.app.state.engine) == before
    # The operator may load it.
    if "extends" in document:
        response = client.post("/__admin/tenants", json={"fixtures": document}, headers=BEARER)
        assert response.status_code == 201


def test_without_open_sign_up_nothing_is_limited(make_client: Any) -> None:
    client = make_client(max_tenants=1, signups_per_hour=1, signup_max_records=1)
    for _ in range(2):
        created = client.post("/__admin/tenants", json={"fixtures": "default"})
        assert created.status_code == 201
        assert created.json()["quotas"]["records"] is None


# --- behind a proxy: X-Forwarded-For only when the operator says whom to trust -----------


def signups(url: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client(base_url=url, timeout=10) as http:
        return [
            http.post(
                "/__admin/tenants",
                json={"fixtures": "empty"},
                headers={"X-Forwarded-For": address},
            ).status_code
            for address in forwarded_for
        ]


def signup_server(tmp_path: Path, schema: str, **env: str) -> Any:
    environment = {
        "SIM_ADMIN_TOKEN": TOKEN,
        "SIM_OPEN_SIGNUP": "true",
        "SIM_SIGNUPS_PER_HOUR": "1",
        "SIM_FIXTURES": "empty",
        **env,
    }
    return start_server(live_database_url(tmp_path, schema), environment)


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path: Path) -> None:
    server = signup_server(tmp_path, "sim_signup_direct")
    try:
        # Each claims another address: all are the one peer, 127.0.0.1.
        assert signups(server.url, ["10.0.0.1", "10.0.0.2"]) == [201, 429]
    finally:
        stop_server(server)


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    server = signup_server(tmp_path, "sim_signup_proxy", SIM_FORWARDED_ALLOW_IPS="127.0.0.1")
    try:
        assert signups(server.url, ["10.0.0.1", "10.0.0.2", "10.0.0.1"]) == [201, 201, 429]
    finally:
        stop_server(server)


# --- safe defaults of `simulator serve` ------------------------------------------------------


def serve_output(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SIM_")},
        "SIM_DATABASE_URL": f"sqlite:///{tmp_path / 'refused.db'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_open_signup_without_a_token(tmp_path: Path) -> None:
    result = serve_output(tmp_path, SIM_OPEN_SIGNUP="true")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SIM_OPEN_SIGNUP=true needs SIM_ADMIN_TOKEN" in lines[0]
    assert not (tmp_path / "refused.db").exists()  # refused before touching the store


def test_the_banner_says_whether_the_admin_api_is_protected(tmp_path: Path) -> None:
    from simulator.cli import banner
    from simulator.config import Settings

    open_banner = banner(Settings(admin_token=None))
    assert "admin API: OPEN" in open_banner
    protected = banner(Settings(admin_token=TOKEN, open_signup=True))
    assert "admin API: protected by SIM_ADMIN_TOKEN" in protected
    assert "open sign-up" in protected
    assert TOKEN not in protected
