"""The fast lane: an API request whose route is a plain endpoint is called directly.

FastAPI 0.16x tries every route of every included router in turn, then solves each endpoint's
dependencies, wraps it in two exit stacks and an exception layer: on this stack that costs more
than the hot handlers' own work. A *plain* endpoint — `async def f(request: Request, <str path
parameters>) -> Response`, with no dependencies — needs none of it, so `FastLane` matches the
path against the owning API's routes only (in FastAPI's own order) and awaits the endpoint
itself, rendering its exceptions with the app's own exception handlers. A path of an API that
no route matches, for any method, gets the 404 FastAPI would raise, from the same handler,
without FastAPI trying every route of the app first (about 0.4 ms). Every other request
(dependencies, a method that does not match, a trailing slash FastAPI redirects) goes on to
FastAPI unchanged, so the answer is the same either way; only the cost differs.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from re import Pattern
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from simulator.core.formats import form_pairs
from simulator.core.registry import SPEC_SCOPE_KEY, ApiSpec, api_for_path, api_specs

Endpoint = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class PlainRoute:
    """A route whose endpoint can be awaited with the request and its path parameters."""

    methods: frozenset[str]
    path_regex: Pattern[str]
    convertors: dict[str, Any]
    endpoint: Endpoint
    request_name: str
    argument_names: tuple[str, ...]  # the path parameters the endpoint takes as arguments
    route: Any

    def match(self, path: str) -> dict[str, Any] | None:
        found = self.path_regex.match(path)
        if found is None:
            return None
        return {k: self.convertors[k].convert(v) for k, v in found.groupdict().items()}


def plain_route(route: Any) -> PlainRoute | None:
    """The route as a PlainRoute, or None when only FastAPI can call its endpoint."""
    endpoint = getattr(route, "endpoint", None)
    methods = getattr(route, "methods", None)
    if endpoint is None or not methods or not inspect.iscoroutinefunction(endpoint):
        return None
    if getattr(route, "dependencies", None):
        return None
    try:
        hints = typing.get_type_hints(endpoint)
    except Exception:  # an annotation that does not resolve: let FastAPI deal with it
        return None
    if hints.get("return") is not Response:
        return None
    path_names = set(route.param_convertors)
    request_name = None
    arguments = []
    for name, parameter in inspect.signature(endpoint).parameters.items():
        annotation = hints.get(name)
        if annotation is Request and request_name is None:
            request_name = name
        elif name in path_names and annotation is str and parameter.default is parameter.empty:
            arguments.append(name)
        else:
            return None
    if request_name is None:
        return None
    return PlainRoute(
        methods=frozenset(methods),
        path_regex=route.path_regex,
        convertors=dict(route.param_convertors),
        endpoint=endpoint,
        request_name=request_name,
        argument_names=tuple(arguments),
        route=route,
    )


def path_head(path: str) -> str:
    """The first two segments of a path (`/v1/customer_profiles` of
    `/v1/customer_profiles/x/inventory`), or the whole path when it has fewer."""
    return "/".join(path.split("/", 3)[:3])


def literal_head(route: Any) -> str | None:
    """The head every path the route matches starts with, or None when a parameter sits in it
    (the route may match paths of any head)."""
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    head = path_head(template)
    return None if "{" in head else head


Candidates = list[tuple[Any, PlainRoute | None]]


class RouteTable:
    """Each API's routes in FastAPI's order: a PlainRoute, or None for "FastAPI's to call".

    A request is matched only against the routes that can match its path: those whose path
    starts with the request's first two segments, and those with a parameter there, still in
    FastAPI's order. Trying every route of the API in turn cost a Talon.One read late in the
    list (GetCustomerInventory, the 32nd of 38) about 13 µs a request."""

    def __init__(self, specs: list[ApiSpec]) -> None:
        self.by_api: dict[str, Candidates] = {
            spec.name: [
                (route, plain_route(route)) for router in spec.routers for route in router.routes
            ]
            for spec in specs
        }
        self.by_head: dict[str, dict[str, Candidates]] = {}
        self.any_head: dict[str, Candidates] = {}
        for api, routes in self.by_api.items():
            heads = [(entry, literal_head(entry[0])) for entry in routes]
            self.any_head[api] = [entry for entry, h in heads if h is None]
            literal = {head for _entry, head in heads if head is not None}
            self.by_head[api] = {
                head: [entry for entry, h in heads if h in (head, None)] for head in literal
            }

    def find(self, api: str, method: str, path: str) -> tuple[PlainRoute, dict[str, Any]] | None:
        """The plain route FastAPI would pick, with its path parameters; None otherwise."""
        candidates = self.by_head.get(api, {}).get(path_head(path), self.any_head.get(api, []))
        for route, plain in candidates:
            if plain is None:
                found = route.path_regex.match(path)
                if found is not None and method in (route.methods or ()):
                    return None  # FastAPI's own route: it answers
                continue
            params = plain.match(path)
            if params is not None and method in plain.methods:
                return plain, params
        return None  # no route, or only for other methods (405): FastAPI answers

    def routes_nothing(self, api: str, path: str) -> bool:
        """No route of the API matches the path, for any method, nor the path with its trailing
        slash added or taken away (FastAPI would redirect to that one)."""
        twin = path[:-1] if path.endswith("/") else f"{path}/"
        for candidate in (path, twin):
            routes = self.by_head.get(api, {}).get(path_head(candidate), self.any_head.get(api, []))
            if any(route.path_regex.match(candidate) for route, _plain in routes):
                return False
        return True


class FastLane:
    """ASGI app for API paths: plain endpoints directly, everything else through `app`.

    It steps aside once the app's route list is no longer the one `create_app` built (a test
    that adds routes of its own), so FastAPI's matching stays the reference.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.table: RouteTable | None = None
        self.fastapi_app: Any = None
        self.route_count = -1

    def bind(self, fastapi_app: Any) -> None:
        """Index the API routes; `create_app` records how many routes it built."""
        self.fastapi_app = fastapi_app
        self.table = RouteTable(api_specs())
        self.route_count = getattr(fastapi_app.state, "route_count", -1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.lookup(scope)
        if found is None:
            if self.routes_nothing(scope):
                # FastAPI would try every route of the app (about 0.4 ms) before raising this.
                request = Request(scope, receive, send)
                response = await error_response(request, HTTPException(status_code=404))
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        plain, params = found
        scope["path_params"] = params
        scope["route"] = plain.route
        scope["endpoint"] = plain.endpoint
        request = Request(scope, receive, send)
        try:
            arguments = {name: params[name] for name in plain.argument_names}
            arguments[plain.request_name] = request
            response = await plain.endpoint(**arguments)
        except Exception as exc:
            response = await error_response(request, exc)
        await response(scope, receive, send)

    def lookup(self, scope: Scope) -> tuple[PlainRoute, dict[str, Any]] | None:
        found = self.table_of(scope)
        if found is None:
            return None
        table, spec = found
        return table.find(spec.name, scope["method"], scope["path"])

    def routes_nothing(self, scope: Scope) -> bool:
        """The request's path is its API's, and no route of the app matches it: FastAPI's
        answer is its 404 (only an API's own routes lie under its paths, tests/core/
        test_dispatch.py checks)."""
        found = self.table_of(scope)
        return found is not None and found[0].routes_nothing(found[1].name, scope["path"])

    def table_of(self, scope: Scope) -> tuple[RouteTable, ApiSpec] | None:
        """The route table and the API of the request's path; None when the path is no API's
        or the app's routes are no longer the ones the table was built from."""
        fastapi_app = scope.get("app")
        spec = scope.get(SPEC_SCOPE_KEY) or api_for_path(scope["path"])
        if fastapi_app is None or spec is None:
            return None
        if self.fastapi_app is not fastapi_app:
            self.bind(fastapi_app)
        if len(fastapi_app.router.routes) != self.route_count or self.table is None:
            return None
        return self.table, spec


async def error_response(request: Request, exc: Exception) -> Response:
    """The app's exception handler for the nearest class of `exc` (as Starlette looks)."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
            return response
    raise exc


QUERY_SCOPE_KEY = "simulator.query"  # the request's query parameters, parsed once


def query_param(request: Request, name: str) -> str | None:
    """`request.query_params.get(name)`: the last value given for `name` (the hot endpoints
    ask for their optional parameters on every request)."""
    return query_values(request).get(name) if request.scope.get("query_string") else None


def query_values(request: Request) -> dict[str, str]:
    """`dict(request.query_params)`: each name's last value, parsed once a request."""
    scope = request.scope
    values = scope.get(QUERY_SCOPE_KEY)
    if values is None:
        values = scope[QUERY_SCOPE_KEY] = parse_query(scope.get("query_string", b""))
    return values


def parse_query(query: bytes) -> dict[str, str]:
    """Each name's last value, exactly as Starlette's QueryParams answers `get` (the query's
    bytes read as latin-1), at a quarter of its cost: it keeps no list of every value."""
    return dict(form_pairs(query.decode("latin-1")))


async def read_body(request: Request) -> bytes:
    """`await request.body()` without Starlette's async generator and its closing context (the
    hot endpoints read every body); later `request.body()` calls get the same bytes."""
    body = getattr(request, "_body", None)
    if body is not None:
        return body
    chunks: list[bytes] = []
    while True:
        message = await request.receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # as Request.body() keeps it
    request._stream_consumed = True
    return body
