"""Talon.One errors: `{"message", "errors": [{"title", "details", "source"}], "StatusCode"}`.

This one shape satisfies both `ErrorResponse` and `ErrorResponseWithStatus` of the SDKs.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from simulator.core.errors import ApiError, reason
from simulator.core.formats import json_response

# The documented 409 of UpdateCustomerSessionV2, UpdateCustomerProfileV2 and TrackEventV2.
PARALLEL_WRITES = "Too many requests or limit reached - Avoid parallel requests"


class TalonOneError(ApiError):
    """`errors` items may be given in `extra["errors"]`; otherwise one is built from the message.

    `pointer` / `parameter` name the offending body field or query parameter.
    """


def error_item(
    title: str, details: str, pointer: str | None = None, parameter: str | None = None
) -> dict[str, Any]:
    source: dict[str, Any] = {}
    if pointer is not None:
        source["pointer"] = pointer
    if parameter is not None:
        source["parameter"] = parameter
    return {"title": title, "details": details, "source": source}


def error_body(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict:
    return {
        "message": message,
        "errors": errors if errors is not None else [error_item(reason(status), message)],
        "StatusCode": status,
    }


def render_error(request: Request, status: int, message: str, code: Any = None) -> Response:
    """Talon.One's error body (it has no error code besides the status)."""
    return json_response(error_body(status, message), status=status)


async def handle_talonone_error(request: Request, exc: TalonOneError) -> Response:
    errors = exc.extra.get("errors")
    if errors is None and ("pointer" in exc.extra or "parameter" in exc.extra):
        errors = [
            error_item(
                exc.extra.get("title", reason(exc.status)),
                exc.message,
                exc.extra.get("pointer"),
                exc.extra.get("parameter"),
            )
        ]
    headers = exc.extra.get("headers")
    return json_response(error_body(exc.status, exc.message, errors), exc.status, headers=headers)
