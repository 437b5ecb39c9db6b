"""The Dockerfile and docker-compose.yml say what the README promises."""

from __future__ import annotations

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


def test_compose_defines_sqlite_default_and_postgres_profile() -> None:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = document["services"]
    assert "profiles" not in services["simulator"]
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "postgres" in postgres["profiles"]
    assert "healthcheck" in postgres
    depends = services["simulator-pg"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"


def test_compose_config_accepts_the_file() -> None:
    command = compose_command()
    if command is None:
        # Without a compose binary the structural test above still checks the file.
        return
    for profile in ([], ["--profile", "postgres"]):
        result = subprocess.run(
            [*command, *profile, "config", "-q"], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr


def test_compose_sandbox_profile_has_two_replicas_behind_nginx() -> None:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = document["services"]
    sandbox = {name for name, s in services.items() if "sandbox" in s.get("profiles", [])}
    assert {"postgres", "migrate", "simulator-a", "simulator-b", "proxy"} <= sandbox
    for replica in ("simulator-a", "simulator-b"):
        env = services[replica]["environment"]
        assert env["SIM_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert services[replica]["depends_on"]["postgres"]["condition"] == "service_healthy"
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server simulator-a:8000" in nginx and "server simulator-b:8000" in nginx
    assert "max_fails" in nginx


def test_compose_sandbox_profile_config_is_accepted() -> None:
    command = compose_command()
    if command is None:
        return
    result = subprocess.run(
        [*command, "--profile", "sandbox", "config", "-q"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
