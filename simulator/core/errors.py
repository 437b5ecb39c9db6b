"""Errors: each API raises its own ApiError subclass; anything else on an API path is still
answered in that API's shape (never FastAPI's default `{"detail": ...}` nor a bare 500)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from simulator.core.formats import json_response
from simulator.core.quotas import QuotaExceeded
from simulator.core.storable import path_names_nothing

log = logging.getLogger("simulator.errors")

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    499: "Client Closed Request",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# What the journal and the metrics record for a request whose client left before sending all
# of it (nginx's code: no response goes out, the client is gone).
CLIENT_CLOSED = 499


class ApiError(Exception):
    """An error that an API renders in its own wire shape."""

    def __init__(self, status: int, message: str, code: Any = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra


class BodyTooLarge(Exception):
    """Raised while a request body is read once it passes the configured ceiling."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


def reason(status: int) -> str:
    return REASONS.get(status, "Error")


def render_for_path(request: Request, status: int, message: str) -> Response:
    """Answer in the shape of the API that owns the path, or plain JSON elsewhere."""
    from simulator.core.registry import api_for_path

    spec = api_for_path(request.url.path)
    if spec is not None:
        return spec.render_error(request, status, message)
    return json_response({"error": message, "status": status}, status=status)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "Invalid request"


# Deadlock, serialization failure, lock not available (PostgreSQL); a lock wait that timed out
# (SQLite). Each means "another request wrote the same rows first": a retry succeeds.
CONFLICT_SQLSTATES = {"40P01", "40001", "55P03"}


def is_write_conflict(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None)
    return state in CONFLICT_SQLSTATES or "database is locked" in str(exc.orig)


def log_client_gone(method: str, path: str) -> None:
    """A client that left mid-request: not the simulator's error, so one line, no traceback."""
    log.info("client disconnected before sending its whole request: %s %s", method, path)


def install_generic_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_exception(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else reason(exc.status_code)
        response = render_for_path(request, exc.status_code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def request_validation(request: Request, exc: RequestValidationError) -> Response:
        status = 404 if path_names_nothing(list(exc.errors())) else 400
        return render_for_path(request, status, validation_message(exc))

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge) -> Response:
        return render_for_path(request, 413, str(exc))

    @app.exception_handler(QuotaExceeded)
    async def quota_exceeded(request: Request, exc: QuotaExceeded) -> Response:
        response = render_for_path(request, 429, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(ClientDisconnect)
    async def client_disconnected(request: Request, exc: ClientDisconnect) -> Response:
        log_client_gone(request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        if is_write_conflict(exc):
            return render_for_path(
                request, 409, "Conflict with a concurrent request on the same data; retry it"
            )
        log.exception("database error on %s %s", request.method, request.url.path)
        return render_for_path(request, 500, "Internal server error")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render_for_path(request, 500, "Internal server error")
