"""The Dockerfile and docker-compose.yml say what the README promises."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_dockerfile_runs_as_non_root_with_healthcheck_and_volume() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text  # the Python CI tests (3.11)
    assert "\nUSER simulator" in text
    assert "HEALTHCHECK" in text and "/__admin/health" in text
    assert 'VOLUME ["/app/var"]' in text


def test_compose_gives_each_service_its_own_profile() -> None:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = document["services"]
    profiles = {name: service.get("profiles") for name, service in services.items()}
    assert profiles == {
        "simulator": ["local"],
        "postgres": ["postgres"],
        "simulator-pg": ["postgres"],
    }
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "healthcheck" in postgres
    depends = services["simulator-pg"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"


def test_compose_config_accepts_the_file() -> None:
    command = compose_command()
    if command is None:
        # Without a compose binary the structural test above still checks the file.
        return
    env = {k: v for k, v in os.environ.items() if k != "SIM_ADMIN_TOKEN"}
    for profile in (["--profile", "local"], ["--profile", "postgres"]):
        result = subprocess.run(
            [*command, *profile, "config", "-q"], cwd=ROOT, capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, result.stderr


SANDBOX = ROOT / "docker-compose.sandbox.yml"


def test_compose_sandbox_has_two_replicas_behind_nginx() -> None:
    services = yaml.safe_load(SANDBOX.read_text())["services"]
    assert set(services) == {"postgres", "migrate", "simulator-a", "simulator-b", "proxy"}
    for replica in ("simulator-a", "simulator-b"):
        env = services[replica]["environment"]
        assert env["SIM_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert services[replica]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "ports" not in services[replica]  # reached through nginx only
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server simulator-a:8000" in nginx and "server simulator-b:8000" in nginx
    assert "max_fails" in nginx
    assert "X-Forwarded-For" in nginx


def test_compose_sandbox_needs_a_token_and_has_no_default_one() -> None:
    text = SANDBOX.read_text()
    env = yaml.safe_load(text)["services"]["simulator-a"]["environment"]
    assert env["SIM_ADMIN_TOKEN"].startswith("${SIM_ADMIN_TOKEN:?")
    assert env["SIM_OPEN_SIGNUP"] == "true"
    for name in ("SIM_MAX_TENANTS", "SIM_SIGNUPS_PER_HOUR", "SIM_SIGNUP_MAX_RECORDS"):
        assert name in env
    assert "change-me" not in text
    assert "change-me" not in (ROOT / "docker-compose.yml").read_text()


def test_compose_sandbox_config_is_refused_without_a_token() -> None:
    command = compose_command()
    if command is None:
        return
    env = {k: v for k, v in os.environ.items() if k != "SIM_ADMIN_TOKEN"}
    config = [*command, "-f", str(SANDBOX), "config", "-q"]
    refused = subprocess.run(config, cwd=ROOT, capture_output=True, text=True, env=env)
    assert refused.returncode != 0
    assert "SIM_ADMIN_TOKEN" in refused.stderr
    accepted = subprocess.run(
        config, cwd=ROOT, capture_output=True, text=True, env={**env, "SIM_ADMIN_TOKEN": "t"}
    )
    assert accepted.returncode == 0, accepted.stderr
