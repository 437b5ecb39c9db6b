"""What the security tests share: the admin token, credentials that must fail, the app's routes
enumerated (so a route added later is tested without anyone listing it), and a snapshot of the
store to prove a refused call changed nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from simulator.admin.guard import is_open as guard_is_open
from simulator.core.registry import api_for_path

TOKEN = "s3cret-admin-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class BadCredential:
    label: str
    kind: str  # what the 401 says: "missing" (no token sent) or "invalid" (a wrong one)
    headers: dict[str, str]
    params: dict[str, str]


_BASIC = base64.b64encode(f"admin:{TOKEN}".encode()).decode()

# Each one must be refused with 401 on every guarded path.
BAD_CREDENTIALS = [
    BadCredential("no credentials", "missing", {}, {}),
    BadCredential("empty bearer", "missing", {"Authorization": "Bearer "}, {}),
    BadCredential("token in the query", "missing", {}, {"token": TOKEN, "access_token": TOKEN}),
    BadCredential("token in another header", "missing", {"X-Admin-Token": TOKEN}, {}),
    BadCredential("wrong token", "invalid", {"Authorization": "Bearer wrong"}, {}),
    BadCredential("token, other scheme", "invalid", {"Authorization": f"Basic {TOKEN}"}, {}),
    BadCredential("basic auth with the token", "invalid", {"Authorization": f"Basic {_BASIC}"}, {}),
    BadCredential("token plus a character", "invalid", {"Authorization": f"Bearer {TOKEN}x"}, {}),
    BadCredential("token minus one", "invalid", {"Authorization": f"Bearer {TOKEN[:-1]}"}, {}),
    BadCredential("upper-case token", "invalid", {"Authorization": f"Bearer {TOKEN.upper()}"}, {}),
]

# Values for the admin routes' path parameters (anything else gets "1").
PATH_VALUES = {"tenant_id": "default", "code": "12121", "rest": "x"}

# Bodies a write would accept, so a guard that let one through would leave a trace.
ADMIN_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/__admin/tenants"): {"name": "intruder", "fixtures": "empty"},
    ("POST", "/__admin/faults"): {"api": "talonone", "error": 503},
    ("PUT", "/__admin/tenants/{tenant_id}/clock"): {"frozen": True},
    ("POST", "/__admin/tenants/{tenant_id}/clock/advance"): {"days": 1},
    ("PUT", "/__admin/tenants/{tenant_id}/quotas"): {"records": 0},
    ("POST", "/__admin/tenants/{tenant_id}/customergauge/bounces"): {
        "email": "intruder@example.com"
    },
    ("POST", "/__admin/tenants/{tenant_id}/talonone/loyalty/programs/{program_id}/points"): {
        "profileId": "customer-1",
        "amount": 5,
    },
}


@dataclass(frozen=True)
class RouteCall:
    method: str
    template: str  # the route's path as declared, e.g. /__admin/tenants/{tenant_id}
    path: str  # with its parameters filled in

    @property
    def api(self) -> str | None:
        """The API that owns the path (None: the control plane)."""
        spec = api_for_path(self.path)
        return spec.name if spec is not None else None

    @property
    def body(self) -> Any:
        return ADMIN_BODIES.get((self.method, self.template))

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def route_calls(app: Any) -> Iterator[RouteCall]:
    """Every (method, path) the app serves, as FastAPI enumerates its routes."""
    for route in iter_route_contexts(app.router.routes):
        template = route.path_format
        if template is None:
            continue
        path = template
        for name in getattr(route, "param_convertors", None) or _names(template):
            path = path.replace("{" + name + "}", PATH_VALUES.get(name, "1"))
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield RouteCall(method, template, path)


def _names(template: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in template.split("/") if part.startswith("{")]


def control_plane_calls(app: Any) -> list[RouteCall]:
    """Every route that is not one of the four APIs': the admin API, /metrics, FastAPI's docs."""
    return [call for call in route_calls(app) if api_for_path(call.path) is None]


def api_calls(app: Any) -> list[RouteCall]:
    return [call for call in route_calls(app) if api_for_path(call.path) is not None]


def is_open(call: RouteCall) -> bool:
    """Health, and the Inspector's login page and static files (admin/guard.is_open)."""
    return guard_is_open(call.method, call.path)


def store_snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table but the request journal and rate counters (which requests
    may write by design), as text, for a before/after comparison."""
    skipped = {"journal_entry", "tenant_rate"}
    snapshot = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in skipped:
                continue
            rows = connection.execute(select(table)).all()
            snapshot[table.name] = sorted(tuple(map(str, row)) for row in rows)
    return snapshot


@pytest.fixture
def guarded_client(make_client: Any) -> Any:
    return make_client(admin_token=TOKEN)
