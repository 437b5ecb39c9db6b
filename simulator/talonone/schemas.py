"""Request validation for the core part, like the real API: precise 400s with a JSON pointer.

The helpers take the decoded JSON value and the pointer of where it sits in the payload and
either return the value typed or raise `TalonOneError(400, ..., pointer=...)`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from simulator.core.clock import parse_instant
from simulator.core.storable import INT64, MAX_AMOUNT, JsonRefused, amount_ok, read_json
from simulator.talonone.errors import TalonOneError

INVALID = "The submitted data was invalid"
SESSION_STATES = ("open", "closed", "partially_returned", "cancelled")
SESSION_RESPONSE_CONTENT = (
    "customerSession",
    "customerProfile",
    "coupons",
    "triggeredCampaigns",
    "referral",
    "loyalty",
    "event",
    "awardedGiveaways",
    "ruleFailureReasons",
    "previousReturns",
)
RETURN_RESPONSE_CONTENT = (
    "customerSession",
    "customerProfile",
    "coupons",
    "triggeredCampaigns",
    "referral",
    "loyalty",
    "event",
    "previousReturns",
)
PROFILE_RESPONSE_CONTENT = (
    "customerProfile",
    "triggeredCampaigns",
    "loyalty",
    "event",
    "awardedGiveaways",
    "ruleFailureReasons",
)
EVENT_RESPONSE_CONTENT = PROFILE_RESPONSE_CONTENT
ENTITY_LABELS = {
    "CustomerSession": "CustomerSession",
    "CustomerProfile": "CustomerProfile",
    "Event": "Event",
    "CartItem": "CartItem",
}


def invalid(pointer: str, details: str, title: str = "Invalid value") -> TalonOneError:
    return TalonOneError(400, details, pointer=pointer, title=title)


def parse_body(raw: bytes) -> Any:
    """Strict JSON (core/storable `read_json`): NaN / Infinity, over-deep nesting and text no
    store keeps (NUL, a lone surrogate) are refused like any other invalid JSON; an integer
    beyond 64 bits is read as a number, so an integer field refuses it, as the real API's int64
    fields do."""
    if not raw.strip():
        raise TalonOneError(400, "Request body is missing", title="Invalid body", pointer="")
    try:
        return read_json(raw)
    except JsonRefused as refused:
        raise TalonOneError(
            400, refused.reason, title="Invalid body", pointer=refused.pointer
        ) from None


def expect_object(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(pointer, f"{pointer or 'body'} must be an object", "Invalid type")
    return value


def expect_list(value: Any, pointer: str, max_items: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(pointer, f"{pointer} must be an array", "Invalid type")
    if max_items is not None and len(value) > max_items:
        raise invalid(pointer, f"{pointer} must have at most {max_items} items", "maxItems")
    return value


def expect_str(value: Any, pointer: str, min_length: int = 0, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise invalid(pointer, f"{pointer} must be a string", "Invalid type")
    if len(value) < min_length:
        raise invalid(pointer, f"{pointer} must be at least {min_length} characters", "minLength")
    if max_length is not None and len(value) > max_length:
        raise invalid(pointer, f"{pointer} must be at most {max_length} characters", "maxLength")
    return value


def expect_int(
    value: Any, pointer: str, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A JSON integer of the API's int64 fields (a larger one is refused like a non-integer)."""
    if isinstance(value, bool) or not isinstance(value, int) or not INT64.holds(value):
        raise invalid(pointer, f"{pointer} must be an integer", "Invalid type")
    if minimum is not None and value < minimum:
        raise invalid(pointer, f"{pointer} must be greater than or equal to {minimum}", "minimum")
    if maximum is not None and value > maximum:
        raise invalid(pointer, f"{pointer} must be less than or equal to {maximum}", "maximum")
    return value


def expect_number(value: Any, pointer: str, minimum: float | None = None) -> float | int:
    """A finite JSON number no larger than MAX_AMOUNT in size (prices, costs, points)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(pointer, f"{pointer} must be a number", "Invalid type")
    if not amount_ok(value):
        raise invalid(pointer, f"{pointer} must be a number from {-MAX_AMOUNT:g} to {MAX_AMOUNT:g}")
    if minimum is not None and value < minimum:
        raise invalid(pointer, f"{pointer} must be greater than or equal to {minimum}", "minimum")
    return value


def expect_bool(value: Any, pointer: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(pointer, f"{pointer} must be a boolean", "Invalid type")
    return value


def expect_enum(value: Any, pointer: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        parts = [p for p in pointer.split("/") if p and not p.isdigit()]
        name = parts[-1] if parts else "value"
        raise invalid(pointer, f"{name} must be one of the following: {', '.join(allowed)}", "enum")
    return value


def check_keys(body: dict[str, Any], pointer: str, allowed: set[str]) -> None:
    """Unknown body fields are refused (the real API decodes strictly)."""
    for key in body:
        if key not in allowed:
            raise invalid(f"{pointer}/{key}", f"Unknown field {key!r}", "Unknown")


def response_content(body: dict[str, Any], allowed: tuple[str, ...]) -> set[str]:
    if "responseContent" not in body or body["responseContent"] is None:
        return set()
    items = expect_list(body["responseContent"], "/responseContent")
    return {expect_enum(item, f"/responseContent/{i}", allowed) for i, item in enumerate(items)}


def int_list(value: Any, pointer: str) -> list[int]:
    return [
        expect_int(item, f"{pointer}/{i}") for i, item in enumerate(expect_list(value, pointer))
    ]


# --- attributes -------------------------------------------------------------------------------


def check_attribute(kind: str, value: Any, pointer: str, name: str) -> Any:
    """Type-check one attribute value; `kind` is string|number|boolean|time|list|map|any."""

    def wrong(expected: str) -> TalonOneError:
        return invalid(
            pointer,
            f'Value of "{name}" attribute ({json.dumps(value)}) is not {expected}',
            "Invalid type",
        )

    if value is None or kind == "any":
        return value
    if kind == "string" and not isinstance(value, str):
        raise wrong("a string")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise wrong("a number")
    if kind == "number" and not amount_ok(value):
        raise invalid(
            pointer,
            f'Value of "{name}" attribute ({json.dumps(value)}) is not a number from '
            f"{-MAX_AMOUNT:g} to {MAX_AMOUNT:g}",
        )
    if kind == "boolean" and not isinstance(value, bool):
        raise wrong("a boolean")
    if kind == "list" and not isinstance(value, list):
        raise wrong("a list")
    if kind == "map" and not isinstance(value, dict):
        raise wrong("an object")
    if kind == "time":
        if not isinstance(value, str):
            raise wrong("a time")
        try:
            parse_instant(value)
        except ValueError:
            raise wrong("a time") from None
    return value


def check_attributes(
    value: Any, pointer: str, entity: str, definitions: dict[str, str]
) -> dict[str, Any]:
    """Attributes must be defined for the entity and of the defined type."""
    attributes = expect_object(value, pointer)
    for name, item in attributes.items():
        kind = definitions.get(name)
        if kind is None:
            raise TalonOneError(
                400,
                INVALID,
                errors=[
                    {
                        "title": "Unknown",
                        "details": f'The attribute "{name}" is not defined on '
                        f"{ENTITY_LABELS.get(entity, entity)} entities.",
                        "source": {"pointer": f"{pointer}/{name}"},
                    }
                ],
            )
        check_attribute(kind, item, f"{pointer}/{name}", name)
    return attributes


# --- query parameters -------------------------------------------------------------------------


def query_bool(value: str | None, name: str, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise TalonOneError(
        400, f"{name} must be a boolean (true or false)", title="Invalid value", parameter=name
    )


def query_silent(value: str | None) -> bool:
    """`silent` is `yes` (the default) or `no`."""
    if value is None or value == "":
        return True
    lowered = value.lower()
    if lowered in ("yes", "true"):
        return True
    if lowered in ("no", "false"):
        return False
    raise TalonOneError(
        400, "silent must be one of the following: yes, no", title="enum", parameter="silent"
    )


def query_instant(value: str, name: str) -> datetime:
    try:
        text = value.strip()
        if len(text) == 10:
            text += "T00:00:00"
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]
        return parse_instant(text)
    except ValueError:
        raise TalonOneError(
            400, f"{name} must be an RFC 3339 date-time", title="Invalid value", parameter=name
        ) from None
