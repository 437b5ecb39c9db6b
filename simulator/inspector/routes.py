"""The Inspector's pages, its login and its static files, under /__admin/ui."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

from simulator import __version__
from simulator.admin.guard import INSPECTOR_COOKIE, UI_PREFIX, inspector_credential

router = APIRouter(prefix=UI_PREFIX, tags=["inspector"], include_in_schema=False)

# (path segment, title) of each page, in the order the navigation shows them.
SECTIONS = (
    ("tenants", "Tenants"),
    ("traffic", "Traffic"),
    ("customergauge", "CustomerGauge"),
    ("clienttoolbox", "ClientToolbox"),
    ("talonone", "Talon.One"),
    ("ecdp", "ECDP"),
    ("faults", "Faults and clock"),
)
SECTION_TITLES = dict(SECTIONS)
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The browser keeps the static files for a while but asks again after a release.
STATIC_CACHE = "public, max-age=300"


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("simulator.inspector", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, status: int = 200, **context: Any) -> Response:
    html = environment().get_template(name).render(version=__version__, **context)
    response = Response(html, status_code=status, media_type="text/html; charset=utf-8")
    # Nothing of another site may frame the page (its buttons delete tenants).
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def token_of(request: Request) -> str | None:
    return request.app.state.settings.admin_token


def page(request: Request, section: str) -> Response:
    return render(
        f"{section}.html",
        section=section,
        title=SECTION_TITLES[section],
        sections=SECTIONS,
        token_required=token_of(request) is not None,
    )


@router.get("/")
async def home(request: Request) -> Response:
    return page(request, "tenants")


def section_route(section: str) -> None:
    async def show(request: Request) -> Response:
        return page(request, section)

    show.__name__ = f"show_{section}"
    router.add_api_route(f"/{section}", show, methods=["GET"])


for _section, _title in SECTIONS:
    section_route(_section)


# --- login -------------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """Where the login goes on: a page of the Inspector only (never another site)."""
    if target and target.startswith(f"{UI_PREFIX}/") and "//" not in target and "\\" not in target:
        return target
    return f"{UI_PREFIX}/"


def login_page(status: int, next_page: str, error: str | None = None) -> Response:
    response = render(
        "login.html", status=status, next_page=safe_next(next_page), error=error, sections=()
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="simulator admin"'
    return response


def refuse_page(scope: Scope, problem: str) -> Response:
    """The 401 a browser gets for an Inspector page without a credential: the login form."""
    query = scope.get("query_string", b"").decode("latin-1")
    next_page = scope["path"] + (f"?{query}" if query else "")
    error = "That token was not accepted; sign in again." if problem == "invalid" else None
    return login_page(401, next_page, error)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    if token_of(request) is None:  # nothing to sign in to
        return RedirectResponse(safe_next(next), status_code=303)
    return login_page(200, next or "")


@router.post("/login")
async def login(request: Request) -> Response:
    """The token from the form, traded for the Inspector's cookie (admin/guard.py)."""
    token = token_of(request)
    fields = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    presented = (fields.get("token") or [""])[0]
    next_page = (fields.get("next") or [""])[0]
    if token is None:
        return RedirectResponse(safe_next(next_page), status_code=303)
    if not presented:
        return login_page(400, next_page, "Enter the admin token (SIM_ADMIN_TOKEN).")
    if not hmac.compare_digest(_sha(presented), _sha(token)):
        return login_page(401, next_page, "That token was not accepted.")
    response = RedirectResponse(safe_next(next_page), status_code=303)
    response.set_cookie(
        INSPECTOR_COOKIE,
        inspector_credential(token),
        httponly=True,
        samesite="strict",
        path="/__admin",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse(f"{UI_PREFIX}/login", status_code=303)
    response.delete_cookie(INSPECTOR_COOKIE, path="/__admin")
    return response


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


# --- static files ------------------------------------------------------------------------


@lru_cache(maxsize=16)
def static_file(name: str) -> bytes | None:
    """A file shipped in the package's `static/` folder (None for any other name)."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    entry = resources.files("simulator.inspector").joinpath("static", name)
    return entry.read_bytes() if entry.is_file() else None


@router.get("/static/{name}")
async def static(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    body = static_file(name) if suffix in STATIC_TYPES else None
    if body is None:
        raise HTTPException(404, f"no static file {name!r}")
    return Response(body, media_type=STATIC_TYPES[suffix], headers={"Cache-Control": STATIC_CACHE})
