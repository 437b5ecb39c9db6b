"""Reading a Talon.One request: the body, the query string and the path parameters.

Every Talon.One route reads its request through this module, so a malformed request gets the
same 400 whichever route it is sent to: one error type (`TalonOneError`), one body shape
(`{message, errors: [{title, details, source}], StatusCode}`) and one vocabulary of titles:

| title | when |
|---|---|
| `Invalid body` | no body where one is required, or not strict JSON (NaN, Infinity, depth) |
| `Invalid type` | a body field or a parameter of the wrong type (`/x must be a string`) |
| `Invalid value` | the right type, a refused value (a range, a length, a state) |
| `required` | a required field is missing |
| `Unknown` | an unknown body field (session, return, profile and event bodies) |
| `enum` | a value outside its enumeration |

Body fields are named by `source.pointer` (a JSON pointer, "" for the whole body), query and
path parameters by `source.parameter`. The helpers take the decoded value and where it sits
and either return it typed or raise the 400.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from simulator.core.clock import parse_instant
from simulator.core.storable import (
    INT64,
    MAX_AMOUNT,
    ROW_COUNT,
    JsonRefused,
    amount_ok,
    parse_int,
    read_json,
)
from simulator.talonone.errors import TalonOneError

Model = TypeVar("Model", bound=BaseModel)
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


# --- the body ---------------------------------------------------------------------------------


def parse_body(raw: bytes) -> Any:
    """Strict JSON (core/storable `read_json`): NaN / Infinity, over-deep nesting and text no
    store keeps (NUL, a lone surrogate) are refused like any other invalid JSON; an integer
    beyond 64 bits is read as a number, so an integer field refuses it, as the real API's int64
    fields do. Every operation that takes a body requires one (the spec marks them required):
    an empty body is refused too."""
    if not raw.strip():
        raise TalonOneError(400, "Request body is missing", title="Invalid body", pointer="")
    try:
        return read_json(raw)
    except JsonRefused as refused:
        raise TalonOneError(
            400, refused.reason, title="Invalid body", pointer=refused.pointer
        ) from None


def object_body(raw: bytes) -> dict[str, Any]:
    """A body that must be a JSON object (every Talon.One request body is one)."""
    return expect_object(parse_body(raw), "")


# The pydantic error types of a value of the wrong type: what the value must be.
TYPE_ERRORS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "datetime_type": "an RFC 3339 date-time",
    "datetime_parsing": "an RFC 3339 date-time",
    "datetime_from_date_parsing": "an RFC 3339 date-time",
}


def model_pointer(location: tuple[Any, ...], model: type[BaseModel]) -> str:
    """('data', 0, 'audienceId') -> '/data/0/audienceId', field names as the wire spells them
    (a model's aliases)."""
    parts = []
    current: Any = model
    for part in location:
        fields = getattr(current, "model_fields", None)
        if isinstance(part, str) and fields and part in fields:
            field = fields[part]
            parts.append(field.alias or part)
            current = nested_model(field.annotation)
        else:
            parts.append(str(part))
    return "/" + "/".join(parts)


def nested_model(annotation: Any) -> Any:
    """The model a field holds, itself or as the items of a list (for the next pointer step)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = nested_model(argument)
        if found is not None:
            return found
    return None


def validate_model(model: type[Model], body: dict[str, Any]) -> Model:
    """A body checked by a pydantic model; its first problem becomes the 400 the `expect_*`
    helpers raise for the same problem (same title, same message)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        pointer = model_pointer(tuple(error["loc"]), model)
        name = pointer.rsplit("/", 1)[-1]
        kind = error["type"]
        if kind == "missing":
            raise invalid(pointer, f"{name} is required", "required") from None
        if kind == "extra_forbidden":
            raise invalid(pointer, f"Unknown field {name!r}", "Unknown") from None
        if kind in TYPE_ERRORS:
            raise invalid(
                pointer, f"{pointer} must be {TYPE_ERRORS[kind]}", "Invalid type"
            ) from None
        if kind in ("literal_error", "enum"):
            raise invalid(pointer, f"{name}: {error['msg']}", "enum") from None
        raise invalid(pointer, f"{name}: {error['msg']}") from None


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


# --- query and path parameters -----------------------------------------------------------------

# The spec gives array query parameters no maximum; each becomes one IN list of a query.
MAX_VALUES = 1000
PAGE_SIZES = (1, 1000)


def bad_parameter(name: str, message: str, title: str = "Invalid value") -> TalonOneError:
    return TalonOneError(400, message, title=title, parameter=name)


def query_bool(value: str | None, name: str, default: bool = False) -> bool:
    """true/false (also 1/0, yes/no, in any case); absent or empty is the default."""
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_parameter(name, f"{name} must be a boolean (true or false)", "Invalid type")


def path_int(value: str, name: str, minimum: int | None = None) -> int:
    """Plain ASCII digits with an optional minus (Python's int() would also take `1_000` or
    ` 7`); one beyond the store's range is looked up as any other and found nowhere (core/storable
    `lookup`)."""
    number = parse_int(value)
    if number is None:
        raise bad_parameter(name, f"{name} must be an integer", "Invalid type")
    if minimum is not None and number < minimum:
        raise bad_parameter(name, f"{name} must be greater than or equal to {minimum}")
    return number


def query_dry(dry: str | None, force_complete_evaluation: str | None) -> bool:
    """`dry` of an event's evaluation; `forceCompleteEvaluation` is allowed only with a dry run."""
    is_dry = query_bool(dry, "dry")
    if query_bool(force_complete_evaluation, "forceCompleteEvaluation") and not is_dry:
        raise bad_parameter(
            "forceCompleteEvaluation", "forceCompleteEvaluation can only be used with dry=true"
        )
    return is_dry


def query_silent(value: str | None) -> bool:
    """`silent` is `yes` (the default) or `no`."""
    if value is None or value == "":
        return True
    lowered = value.lower()
    if lowered in ("yes", "true"):
        return True
    if lowered in ("no", "false"):
        return False
    raise bad_parameter("silent", "silent must be one of the following: yes, no", "enum")


def query_instant(value: str, name: str) -> datetime:
    """RFC 3339; also a date alone (midnight UTC), a `+0000` offset, and a `+` decoded from the
    query string as a space."""
    try:
        text = value.strip().replace(" ", "+")
        if len(text) == 10:
            text += "T00:00:00"
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]
        return parse_instant(text)
    except ValueError:
        raise bad_parameter(name, f"{name} must be an RFC 3339 date-time", "Invalid type") from None


class Query:
    """The query string of one request, read with the helpers above."""

    def __init__(self, params: QueryParams) -> None:
        self.params = params

    def text(self, name: str) -> str | None:
        return self.params.get(name)

    def many(self, name: str) -> list[str] | None:
        """A repeated parameter's values (one IN list each: at most MAX_VALUES)."""
        values = self.params.getlist(name)
        if len(values) > MAX_VALUES:
            raise bad_parameter(name, f"{name} takes at most {MAX_VALUES} values")
        return values or None

    def boolean(self, name: str, default: bool = False) -> bool:
        return query_bool(self.params.get(name), name, default)

    def instant(self, name: str) -> datetime | None:
        value = self.params.get(name)
        return None if value is None else query_instant(value, name)

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.params.get(name, default)
        if value is not None and value not in allowed:
            raise bad_parameter(
                name, f"{name} must be one of the following: {', '.join(allowed)}", "enum"
            )
        return value

    def integer(self, name: str, default: int) -> int:
        value = self.params.get(name)
        return default if value is None else path_int(value, name)

    def page(self, default_size: int) -> tuple[int, int]:
        """(pageSize, skip): pageSize 1–1000, skip from 0 to what a row count holds."""
        size = self.integer("pageSize", default_size)
        if not PAGE_SIZES[0] <= size <= PAGE_SIZES[1]:
            raise bad_parameter("pageSize", "pageSize must be between 1 and 1000")
        skip = self.integer("skip", 0)
        if skip < 0:
            raise bad_parameter("skip", "skip must not be negative")
        if not ROW_COUNT.holds(skip):
            raise bad_parameter("skip", f"skip must be at most {ROW_COUNT.high}")
        return size, skip
