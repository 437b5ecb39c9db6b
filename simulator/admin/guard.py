"""AdminGuard: the one place where the control plane is protected.

Every path under `/__admin` and `/metrics` passes through it before FastAPI routes it, so a route
added later is covered without anyone remembering to add a dependency:

- `GET /__admin/health` is open;
- `POST /__admin/tenants` is open to callers without credentials when sign-up is open
  (`SIM_OPEN_SIGNUP`), within the sign-up limits (admin/signup.py), checked here before the
  body is read;
- everything else needs `Authorization: Bearer <SIM_ADMIN_TOKEN>` when a token is set, or the
  Inspector's cookie (below);
- the Inspector's login page and its static files (`/__admin/ui/login`, `/__admin/ui/static/`)
  are open: they hold nothing of any tenant's.

The Inspector (`/__admin/ui/`, simulator/inspector) is a page in a browser, which cannot put a
header on a navigation: its login form trades the token for a cookie (`INSPECTOR_COOKIE`, HttpOnly,
SameSite=Strict, path `/__admin`) holding a digest derived from the token, never the token. The
guard takes that cookie as the token; a request that changes something (any method but GET and
HEAD) must also carry `X-Simulator-Inspector: 1`, a header another site's page cannot send
without the browser asking first (no cross-site form can ride on the cookie). A GET of a page
without a credential is answered by the login page (`refuse_page`), still with 401.

A request that gets through then meets the APIs' limits before any handler parses its body: the
ceiling (`SIM_MAX_BODY_BYTES`, 413) and a nesting limit for JSON (400). It sits behind
ApiMiddleware: a request of the APIs' fast lane never reaches it, another API request meets
only the path-prefix check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.admin.signup import SignupRefused
from simulator.core.errors import log_client_gone, render_for_path
from simulator.core.nesting import MAX_JSON_NESTING, json_deeper_than

GUARDED_PREFIXES = ("/__admin", "/metrics")
OPEN_ROUTES = frozenset(
    {
        ("GET", "/__admin/health"),
        ("HEAD", "/__admin/health"),
        ("GET", "/__admin/ui/login"),
        ("POST", "/__admin/ui/login"),
    }
)
OPEN_PREFIXES = ("/__admin/ui/static/",)
UI_PREFIX = "/__admin/ui"
INSPECTOR_COOKIE = "simulator_inspector"
INSPECTOR_HEADER = b"x-simulator-inspector"
SAFE_METHODS = frozenset({"GET", "HEAD"})
SIGNUP_ROUTE = ("POST", "/__admin/tenants")

# Where the guard tells the handlers who is calling: "operator" (the token, or no token set)
# or "signup" (no credentials, on the open sign-up route: the sign-up limits apply).
CALLER_SCOPE_KEY = "simulator.admin_caller"
Caller = Literal["operator", "signup"]

Problem = Literal["missing", "invalid"]


def caller_of(request: Request) -> Caller:
    return request.scope.get(CALLER_SCOPE_KEY, "operator")


def inspector_credential(token: str) -> str:
    """What the Inspector's cookie holds for `token`: a digest keyed by it (the cookie never
    holds the token; a new token makes every cookie void)."""
    return hmac.new(token.encode(), b"simulator inspector session", hashlib.sha256).hexdigest()


def is_open(method: str, path: str) -> bool:
    """Paths any caller may reach: health, the Inspector's login page and static files."""
    if (method, path) in OPEN_ROUTES:
        return True
    return method in SAFE_METHODS and path.startswith(OPEN_PREFIXES) and ".." not in path


class AdminGuard:
    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        open_signup: bool,
        max_body: int,
        max_nesting: int = MAX_JSON_NESTING,
        admit_signup: Callable[[Scope], None] | None = None,
        refuse_page: Callable[[Scope, str], Response] | None = None,
    ) -> None:
        """`admit_signup(scope)`: raises admin.signup.SignupRefused over the sign-up limits;
        `refuse_page(scope, problem)`: the 401 a browser gets for an Inspector page."""
        self.app = app
        self.admit_signup = admit_signup
        self.refuse_page = refuse_page
        self.cookie_digest = _digest(inspector_credential(token).encode()) if token else None
        # Compared as digests: equal length whatever was sent, and any bytes at all (a header
        # that is not ASCII must be refused, not make `compare_digest` raise).
        self.token_digest = _digest(token.encode()) if token else None
        self.open_signup = open_signup
        self.max_body = max_body
        self.max_nesting = max_nesting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        route = (scope["method"], scope["path"])
        if is_open(*route):
            await self.app(scope, receive, send)
            return
        problem = self.credential_problem(scope)
        signup = problem == "missing" and self.open_signup and route == SIGNUP_ROUTE
        if problem is not None and not signup:
            if self.refuse_page is not None and wants_page(scope):
                await self.refuse_page(scope, problem)(scope, receive, send)
                return
            await unauthorized(scope, problem)(scope, receive, send)
            return
        scope[CALLER_SCOPE_KEY] = "signup" if signup else "operator"
        if signup and self.admit_signup is not None:
            try:
                self.admit_signup(scope)
            except SignupRefused as exc:
                await too_many(scope, exc)(scope, receive, send)
                return
        refusal, body = await self.read_body(scope, receive)
        if refusal is not None:
            status, message = refusal
            await render_for_path(Request(scope), status, message)(scope, receive, send)
            return
        if body is None:  # the client went away while sending it
            log_client_gone(scope["method"], scope["path"])
            return
        await self.app(scope, replay(body, receive), send)

    def credential_problem(self, scope: Scope) -> Problem | None:
        """None when the request may pass, else why not: no token sent, or a wrong one."""
        if self.token_digest is None:
            return None
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        if not values:
            return self.cookie_problem(scope)
        if len(values) > 1:
            return "invalid"
        scheme, _, presented = values[0].strip().partition(b" ")
        presented = presented.strip()
        if not scheme or (scheme.lower() == b"bearer" and not presented):
            return "missing"
        if scheme.lower() != b"bearer":
            return "invalid"
        return None if hmac.compare_digest(_digest(presented), self.token_digest) else "invalid"

    def cookie_problem(self, scope: Scope) -> Problem | None:
        """The Inspector's cookie as the credential (no Authorization header was sent)."""
        presented = cookie_value(scope, INSPECTOR_COOKIE)
        if presented is None or self.cookie_digest is None:
            return "missing"
        if not hmac.compare_digest(_digest(presented), self.cookie_digest):
            return "invalid"
        if scope["method"] not in SAFE_METHODS and not any(
            name == INSPECTOR_HEADER for name, _ in scope["headers"]
        ):
            return "missing"  # a cookie alone never changes anything (another site's form)
        return None

    async def read_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[tuple[int, str] | None, bytes | None]:
        """The whole body (admin bodies are small), refused over the ceiling or too deep."""
        too_large = (413, f"request body larger than {self.max_body} bytes")
        if _declared_length(scope) > self.max_body:
            return too_large, None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return too_large, None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_deeper_than(body, self.max_nesting):
            return (400, f"JSON nested deeper than {self.max_nesting} levels"), None
        return None, body


def cookie_value(scope: Scope, name: str) -> bytes | None:
    """The value of cookie `name` in the request's Cookie headers (None when absent)."""
    wanted = name.encode() + b"="
    for header, value in scope["headers"]:
        if header != b"cookie":
            continue
        for part in value.split(b";"):
            part = part.strip()
            if part.startswith(wanted):
                return part[len(wanted) :]
    return None


def wants_page(scope: Scope) -> bool:
    """A browser's navigation to an Inspector page (it asks for HTML), not a script's call."""
    if scope["method"] != "GET" or not scope["path"].startswith(UI_PREFIX):
        return False
    accept = b"".join(value for name, value in scope["headers"] if name == b"accept")
    return b"text/html" in accept


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length before the app sees it
    return 0


def unauthorized(scope: Scope, problem: Problem) -> Response:
    if problem == "missing":
        message = "admin token missing: send Authorization: Bearer <SIM_ADMIN_TOKEN>"
        challenge = 'Bearer realm="simulator admin"'
    else:
        message = "admin token invalid"
        challenge = 'Bearer realm="simulator admin", error="invalid_token"'
    response = render_for_path(Request(scope), 401, message)
    response.headers["WWW-Authenticate"] = challenge
    return response


def too_many(scope: Scope, refused: SignupRefused) -> Response:
    response = render_for_path(Request(scope), 429, refused.message)
    if refused.retry_after is not None:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the connection's own events."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
