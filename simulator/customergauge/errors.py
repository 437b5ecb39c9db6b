"""CustomerGauge 4.1 errors: `{"Error":{"Message":…,"Code":…}}` or its `<Error>` XML twin."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from simulator.core.errors import ApiError
from simulator.core.formats import json_response, xml_response

INVALID_API_KEY = 200000
INVALID_ARGUMENTS = 300001
MODULE_NOT_FOUND = 300002
METHOD_NOT_ALLOWED = 300003
EMAIL_REQUIRED = 400402
NO_DATA = 400700
# Not in the readable part of the docs' error table: chosen in the Stream block (4007xx).
DATA_TOO_LARGE = 400701
TOO_MANY_RECORDS = 400702
SERVER_ERROR = 500000

# The code answered for an error that has no more specific one, by HTTP status.
CODE_BY_STATUS = {
    401: INVALID_API_KEY,
    404: MODULE_NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: DATA_TOO_LARGE,
}


class CustomerGaugeError(ApiError):
    """An error with CustomerGauge's numeric code."""


def wants_xml(path: str) -> bool:
    return path.endswith(".xml")


def error_response(path: str, status: int, message: str, code: int) -> Response:
    if wants_xml(path):
        return xml_response("Error", {"Message": message, "Code": code}, status=status)
    return json_response({"Error": {"Message": message, "Code": code}}, status=status)


def render_error(request: Request, status: int, message: str, code: Any = None) -> Response:
    """The native error of `status`; `code` (a fault rule's) replaces the code by status."""
    if code is None:
        code = CODE_BY_STATUS.get(status, SERVER_ERROR if status >= 500 else INVALID_ARGUMENTS)
    return error_response(request.url.path, status, message, code)


async def handle_customergauge_error(request: Request, exc: CustomerGaugeError) -> Response:
    code = exc.code if exc.code is not None else CODE_BY_STATUS.get(exc.status, INVALID_ARGUMENTS)
    return error_response(request.url.path, exc.status, exc.message, code)
