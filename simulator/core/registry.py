"""How each API package plugs into the app: its routes and operations, error renderer, auth,
fixtures and hooks.

Each package `simulator/<api>/` exposes `SPEC: ApiSpec` in `simulator/<api>/__init__.py`; core
knows an API only through its spec (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI, Request
    from starlette.responses import Response
    from starlette.types import Receive, Scope

    from simulator.core.fixtures import FixtureSection
    from simulator.core.models import Tenant
    from simulator.core.operations import Operation, OperationTable

API_PACKAGES: tuple[str, ...] = ("customergauge", "clienttoolbox", "talonone", "ecdp")

# (request, status, message, code): the API's own error body. `code` (a fault rule's) replaces
# the API's native code where it has one (CustomerGauge `Code`); others ignore it.
ErrorRenderer = Callable[..., "Response"]
# (session, request) -> the tenant the request's credential selects, found exactly as the API's
# own auth finds it but without its quotas, or None: what fault rules and the journal ask.
TenantOf = Callable[[Any, "Request"], "Tenant | None"]
# (scope, receive) -> receive: read (and keep on the request state) what `tenant_of` and the
# operation lookup need from the body, handing the body on to the handler unread.
FormReader = Callable[["Scope", "Receive"], Awaitable["Receive"]]


@dataclass
class ApiSpec:
    """Everything the app needs to know about one simulated API."""

    name: str
    owns_path: Callable[[str], bool]
    render_error: ErrorRenderer
    # The API's operations, declared once (simulator/<api>/operations.py); its routes are made
    # from them (core/operations).
    operations: OperationTable
    tenant_of: TenantOf
    read_form: FormReader | None = None
    # The message of an injected error of this status when the rule gives none (Talon.One's
    # documented 409 on parallel writes).
    fault_messages: dict[int, str] = field(default_factory=dict)
    # The API's name as its vendor writes it (docs, the coverage table).
    title: str = ""
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
    _routes: list[Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.title = self.title or self.name

    @property
    def fixtures(self) -> FixtureSection | None:
        """This API's fixture section (its module imported on first use)."""
        if self.fixtures_module is None:
            return None
        import importlib

        return importlib.import_module(self.fixtures_module).SECTION

    def route_for(self, method: str, path: str) -> Any | None:
        """The route of this API that FastAPI would run for `method path` (its first full
        match), or None. A scan of the API's routes: for requests no route has run yet (an
        injected fault, a refused body), never on the way of a routed one."""
        for route in self._route_list():
            if method in (route.methods or ()) and route.path_regex.match(path):
                return route
        return None

    def _route_list(self) -> list[Any]:
        if self._routes is None:
            self._routes = [route for router in self.routers for route in router.routes]
        return self._routes

    def operation_for(self, scope: Scope) -> Operation | None:
        """The operation a request asks for: from the route it matched, else from its method
        and path (for a call route, once `read_form` has read its fields)."""
        route = scope.get("route") or self.route_for(scope["method"], scope["path"])
        return self.operations.operation_of(route, scope) if route is not None else None

    def operation_name(self, scope: Scope) -> str:
        """The journal's and metrics' operation name of a request (core/operations)."""
        route = scope.get("route") or self.route_for(scope["method"], scope["path"])
        return self.operations.name_of(route, scope) if route is not None else ""


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


def api_named(name: str) -> ApiSpec | None:
    for spec in api_specs():
        if spec.name == name:
            return spec
    return None
