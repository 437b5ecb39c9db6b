"""How each API package plugs into the app: its router, error renderer, fixtures and hooks.

Each package `simulator/<api>/` exposes `SPEC: ApiSpec` in `simulator/<api>/__init__.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI, Request
    from starlette.responses import Response

    from simulator.core.fixtures import FixtureSection

API_PACKAGES: tuple[str, ...] = ("customergauge", "clienttoolbox", "talonone", "ecdp")

ErrorRenderer = Callable[["Request", int, str], "Response"]


@dataclass
class ApiSpec:
    """Everything the app needs to know about one simulated API."""

    name: str
    owns_path: Callable[[str], bool]
    render_error: ErrorRenderer
    routers: list[APIRouter] = field(default_factory=list)
    admin_routers: list[APIRouter] = field(default_factory=list)
    # The module whose `SECTION` is this API's part of a fixture document. It is imported on the
    # first use of `fixtures`: a start on a store whose `default` tenant exists loads no
    # document, so it need not pay for the fixture schemas, loaders and generators.
    fixtures_module: str | None = None
    # Called with the app at start-up and shut-down (e.g. the stream worker).
    on_startup: list[Callable[[FastAPI], Awaitable[Any]]] = field(default_factory=list)
    on_shutdown: list[Callable[[FastAPI], Awaitable[Any]]] = field(default_factory=list)
    # Gauges for /metrics, read from the store at scrape time: each is called with a session
    # and the tenant ids to label (None past core.metrics.TENANT_LABEL_LIMIT) and returns
    # core.metrics.GaugeFamily values (`counts_by_status` builds the usual ones).
    gauges: list[Callable[[Any, list[str] | None], Any]] = field(default_factory=list)
    # Exceptions of this API rendered by its own handler.
    exception_handlers: dict[type[BaseException], Callable[..., Any]] = field(default_factory=dict)

    @property
    def fixtures(self) -> FixtureSection | None:
        """This API's fixture section (its module imported on first use)."""
        if self.fixtures_module is None:
            return None
        import importlib

        return importlib.import_module(self.fixtures_module).SECTION


_specs: list[ApiSpec] | None = None


def api_specs() -> list[ApiSpec]:
    """The specs of every API package, imported once."""
    global _specs
    if _specs is None:
        import importlib

        _specs = [importlib.import_module(f"simulator.{p}").SPEC for p in API_PACKAGES]
    return _specs


# Where the API middleware leaves the ApiSpec it found for a request's path (scope key).
SPEC_SCOPE_KEY = "simulator.api"


def api_for_path(path: str) -> ApiSpec | None:
    for spec in api_specs():
        if spec.owns_path(path):
            return spec
    return None
