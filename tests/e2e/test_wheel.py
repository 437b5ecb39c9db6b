"""The wheel the Dockerfile builds (`pip install .`, not editable) serves the default world from
any working directory: the named fixture sets travel inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tests.e2e.test_serve import assert_default_tenant_serves, default_document


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the built wheel (its dependencies are this test run's own, reached
    through a path file, so the test needs no download)."""
    where = tmp_path_factory.mktemp("wheel")
    built = where / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(built), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(built.glob("simulator-*.whl"))
    target = where / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Only the directory itself: the editable install's own path files there are not read.
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return target


def test_the_installed_package_is_the_wheel_not_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    found = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import simulator; print(simulator.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert found.startswith(str(installed)), found
    packaged = Path(found).parent / "fixture_sets"
    assert (packaged / "default.yaml").is_file() and not packaged.is_symlink()


def test_the_wheel_carries_the_inspector_pages(installed: Path, tmp_path: Path) -> None:
    """The Inspector's templates, script and style sheet are package data: the page renders
    from the installed wheel, not from the checkout."""
    script = (
        "from fastapi.testclient import TestClient\n"
        "from simulator.app import create_app\n"
        "from simulator.config import Settings\n"
        f"app = create_app(Settings(database_url='sqlite:///{tmp_path / 'w.db'}'))\n"
        "with TestClient(app) as client:\n"
        "    for path in ('/__admin/ui/traffic', '/__admin/ui/static/inspector.js',\n"
        "                 '/__admin/ui/static/inspector.css'):\n"
        "        print(path, client.get(path).status_code)\n"
        "import simulator.inspector, pathlib\n"
        "print(pathlib.Path(simulator.inspector.__file__).parent)\n"
    )
    shown = subprocess.run(
        [str(installed / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert shown[:3] == [
        "/__admin/ui/traffic 200",
        "/__admin/ui/static/inspector.js 200",
        "/__admin/ui/static/inspector.css 200",
    ]
    assert shown[3].startswith(str(installed))


def test_the_wheel_serves_the_default_world_from_an_unrelated_directory(
    installed: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    process = subprocess.Popen(
        [str(installed / "bin" / "simulator"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/__admin/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the installed simulator did not become healthy"
            time.sleep(0.1)
        assert_default_tenant_serves(url, default_document())
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (tmp_path / "var" / "simulator.db").is_file()  # the store went where it was started
