"""ECDP errors: RFC 7807 `application/problem+json` (`errors` for validation failures)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from simulator.core.errors import ApiError, reason
from simulator.core.formats import json_response

PROBLEM_TYPE = "application/problem+json"
TYPE_BY_STATUS = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
    403: "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    405: "https://tools.ietf.org/html/rfc9110#section-15.5.6",
    409: "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    413: "https://tools.ietf.org/html/rfc9110#section-15.5.14",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    503: "https://tools.ietf.org/html/rfc9110#section-15.6.4",
}


class EcdpError(ApiError):
    """`extra["errors"]` (field path -> messages, rendered as the tenant's setting asks) and
    `extra["title"]` refine the problem."""


def problem(
    request: Request,
    status: int,
    detail: str,
    title: str | None = None,
    errors: Any = None,
    **more: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BY_STATUS.get(status, "about:blank"),
        "title": title or reason(status),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(more)
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=status, media_type=PROBLEM_TYPE)


def render_error(request: Request, status: int, message: str, code: Any = None) -> Response:
    """Problem details have no native code: a fault rule's `code` is not shown."""
    return problem(request, status, message)


def errors_as_list(errors: dict[str, list[str]]) -> list[str]:
    """The documented shape: one string per failure, naming its field path."""
    return [f"{path}: {message}" for path, messages in errors.items() for message in messages]


def tenant_wants_map(request: Request) -> bool:
    """Read only on the error path: the tenant's `validationErrors` fixture setting."""
    from simulator.core.db import new_session
    from simulator.core.requestinfo import noted_tenant
    from simulator.ecdp.models import EcdpSettings

    tenant_id = noted_tenant(request.scope)
    if tenant_id is None:
        return False
    with new_session(request.app.state.engine) as session:
        settings = session.get(EcdpSettings, tenant_id)
    return settings is not None and settings.validation_errors == "map"


async def handle_ecdp_error(request: Request, exc: EcdpError) -> Response:
    extra = dict(exc.extra)
    headers = extra.pop("headers", None)
    if isinstance(extra.get("errors"), dict) and not tenant_wants_map(request):
        extra["errors"] = errors_as_list(extra["errors"])
    response = problem(request, exc.status, exc.message, **extra)
    if headers:
        response.headers.update(headers)
    return response
