"""The OpenAPI description served at `/__admin/openapi.json` (and its page, `/__admin/docs`).

It describes the control plane only: the paths AdminGuard guards (`/__admin`, `/metrics`). The
four APIs are described by their vendors' own documents, which their routes follow by path and
shape; FastAPI's generated description of them (handlers that read the raw request) would be
wrong in every body, so it is left out. The admin token is declared as a bearer scheme, so the
page's "Authorize" button sends it; the guard, not the document, is what enforces it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import RouteContext, iter_route_contexts

from simulator.admin.guard import GUARDED_PREFIXES, OPEN_ROUTES

DESCRIPTION = (
    "The simulator's control plane: tenants, their clocks and quotas, the request journal and "
    "request verification, fault rules, each API's inspection routes, and `/metrics`. "
    "With `SIM_ADMIN_TOKEN` set every call but `GET /__admin/health` needs "
    "`Authorization: Bearer <token>` (this page and its document too)."
)
SCHEME = "adminToken"


def admin_openapi(app: FastAPI) -> dict[str, Any]:
    """The control plane's OpenAPI document, built once per app."""
    if app.openapi_schema is None:
        routes = [route for route in iter_route_contexts(app.routes) if is_control_plane(route)]
        document = get_openapi(
            title=f"{app.title}: admin API",
            version=app.version,
            description=DESCRIPTION,
            routes=routes,
        )
        document.setdefault("components", {})["securitySchemes"] = {
            SCHEME: {"type": "http", "scheme": "bearer", "description": "SIM_ADMIN_TOKEN"}
        }
        mark_open_routes(document)
        app.openapi_schema = document
    return app.openapi_schema


def is_control_plane(route: RouteContext) -> bool:
    return (route.path_format or "").startswith(GUARDED_PREFIXES)


def mark_open_routes(document: dict[str, Any]) -> None:
    """Every operation needs the token except those the guard leaves open (the health check)."""
    open_routes = {(method.lower(), path) for method, path in OPEN_ROUTES}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            operation["security"] = [] if (method, path) in open_routes else [{SCHEME: []}]
