"""The Inspector's browser tests: Playwright for Python driving the system's Chromium (the
browser builds Playwright downloads are not used), against a real `simulator serve`.

Where no browser is present (or Playwright is not installed) the browser tests skip with the
command that installs one; every other test runs. Each page a test visits is saved as a
screenshot under `SIM_ARTIFACTS_DIR` (or the test's temporary directory)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, live_database_url, start_server, stop_server

INSTALL_HINT = "apt-get install -y chromium"
ADMIN_TOKEN = "inspector-test-token"


def chromium_path() -> str | None:
    """The system's Chromium: SIM_CHROMIUM, /usr/bin/chromium, or one on the PATH."""
    for candidate in (os.environ.get("SIM_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Module scope, not session: while Playwright's sync API runs, its event loop is the running
# loop of the main thread, and every later test that calls asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(f"no Chromium browser on this machine: {INSTALL_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"Playwright is not installed (pip install -e '.[test]'); and {INSTALL_HINT}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("SIM_ARTIFACTS_DIR")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("inspector-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of the module's own (its tenants and journal are the module's)."""
    database_url = live_database_url(tmp_path_factory.mktemp("inspector"), "sim_inspector")
    live = start_server(database_url, {"SIM_JOURNAL_FLUSH_SECONDS": "0.05"})
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database_url = live_database_url(tmp_path_factory.mktemp("inspector-token"), "sim_insp_tok")
    live = start_server(database_url, {"SIM_ADMIN_TOKEN": ADMIN_TOKEN})
    yield live
    stop_server(live)


class Page:
    """A browser tab that records the console's errors and the page's uncaught exceptions."""

    def __init__(self, page: Any, base: str, artifacts: Path) -> None:
        self.page = page
        self.base = base
        self.artifacts = artifacts
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-ready=true]", timeout=10_000)
        return response

    def screenshot(self, name: str) -> Path:
        target = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target


@pytest.fixture
def tab(browser: Any, server: LiveServer, artifacts: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield Page(page, server.url, artifacts)
    context.close()
