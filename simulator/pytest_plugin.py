"""pytest plugin (entry point `pytest11`: active wherever `simulator` is installed with pytest).

Fixtures:

- `simulator_server` (session): a `simulator serve` started on a free port with an SQLite store
  in a temporary folder, waited for until healthy and stopped at the end; or, with `SIM_URL`
  set, the simulator there (a compose service, a shared sandbox). `SIM_ADMIN_TOKEN` is sent on
  every admin call.
- `simulator_tenant` (function): a new tenant of that server for the test, deleted after it
  (`simulator.testing.SimulatorTenant`: credentials, base URL, an httpx client per API, the
  official Talon.One SDK, journal, clock, faults, reset). Its fixtures: the
  `simulator_fixtures` marker (a set's name, an inline document, a `pathlib.Path`, or None),
  else the `simulator_fixtures` ini option (default `default`).

Nothing starts unless a test asks for one of them: loading the plugin imports only this module.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from simulator.testing import SimulatorServer, SimulatorTenant

MARKER = "simulator_fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "simulator_fixtures",
        "fixtures of each simulator_tenant without a simulator_fixtures marker "
        "(a set's name, or none)",
        default="default",
    )
    parser.addini(
        "simulator_start_timeout",
        "seconds simulator_server waits for the simulator it starts to answer",
        default="30",
    )
    parser.addini(
        "simulator_serve_args",
        "extra arguments of the simulator serve that simulator_server starts "
        "(e.g. --faults faults.yaml)",
        type="args",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(fixtures): the fixtures of the test's simulator_tenant: a set's name "
        "('default', 'demo', 'empty'), an inline document (dict), a pathlib.Path to a "
        "YAML/JSON document, or None (nothing)",
    )


@pytest.fixture(scope="session")
def simulator_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimulatorServer]:
    """The simulator the session's tenants live on (see the module's docstring)."""
    from simulator.testing import SimulatorServer

    token = os.environ.get("SIM_ADMIN_TOKEN") or None
    url = os.environ.get("SIM_URL")
    if url:
        server = SimulatorServer.connect(url, token)
        yield server
        server.close()
        return
    config = request.config
    server = SimulatorServer.start(
        workdir=tmp_path_factory.mktemp("simulator"),
        args=config.getini("simulator_serve_args"),
        timeout=float(config.getini("simulator_start_timeout")),
    )
    yield server
    server.stop()


def marked_fixtures(request: pytest.FixtureRequest) -> Any:
    """The nearest `simulator_fixtures` marker's argument, else the ini option."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return request.config.getini("simulator_fixtures")
    if marker.args:
        value = marker.args[0]
    elif "fixtures" in marker.kwargs:
        value = marker.kwargs["fixtures"]
    else:
        raise pytest.UsageError(f"{MARKER} needs the fixtures: a set's name, a document or a Path")
    if value is not None and not isinstance(value, str | dict | Path):
        raise pytest.UsageError(
            f"{MARKER}: {value!r} is not a set's name, a document (dict), a Path or None"
        )
    return value


@pytest.fixture
def simulator_tenant(
    request: pytest.FixtureRequest, simulator_server: SimulatorServer
) -> Iterator[SimulatorTenant]:
    """A tenant of its own for the test, deleted after it (see the module's docstring)."""
    tenant = simulator_server.create_tenant(marked_fixtures(request), name=request.node.nodeid)
    try:
        yield tenant
    finally:
        try:
            tenant.delete()
        except Exception as exc:  # e.g. a sandbox whose sign-up lets teams create, not delete
            warnings.warn(f"simulator tenant {tenant.id} was not deleted: {exc}", stacklevel=1)
