"""What the store can hold, checked where each API reads its input, before a value reaches it.

SQLite would store nearly anything; PostgreSQL refuses an integer beyond its column's type
(`Integer` is 32 bits there, `BigInteger` 64) and text holding NUL. So that both stores answer
alike, every request value is held to what the narrower one takes:

- integers: the range of the column they are stored in or looked up by (`fits`, `lookup`,
  `within` for FastAPI parameters); an id beyond it names nothing (the API's 404), any other
  integer beyond it is refused (the API's 400);
- text: no NUL, no lone surrogate (neither can be written as UTF-8 text) (`bad_text`,
  `find_bad_text`);
- amounts (prices, points, money): finite and at most `MAX_AMOUNT` in size (`amount_ok`);
- JSON bodies: `read_json` reads them strictly and applies the rules above to every string.

Each API turns a refusal into its own error shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import BigInteger, Integer, SmallInteger, inspect


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int

    def holds(self, value: int) -> bool:
        return self.low <= value <= self.high


INT16 = IntRange(-(2**15), 2**15 - 1)
INT32 = IntRange(-(2**31), 2**31 - 1)
INT64 = IntRange(-(2**63), 2**63 - 1)
# OFFSET and LIMIT of a query are 64-bit on both stores.
ROW_COUNT = INT64

# Money, points and prices: finite and at most this in size (about what a double holds to the
# cent). The sums and products the APIs compute from such amounts stay finite.
MAX_AMOUNT = 1e15


def range_of(column: Any) -> IntRange:
    """The integers a column holds on every store: `Integer` is 32 bits on PostgreSQL (SQLite
    would take 64), `BigInteger` 64, `SmallInteger` 16. `column` is a Column or a model's
    attribute (`TalonAudience.id`)."""
    column_type = getattr(column, "type", None)
    if isinstance(column_type, BigInteger):
        return INT64
    if isinstance(column_type, SmallInteger):
        return INT16
    if isinstance(column_type, Integer):
        return INT32
    raise TypeError(f"{column!r} is not an integer column")


def fits(column: Any, value: int) -> bool:
    """Whether the column can hold the integer (a lookup of one it cannot hold finds nothing)."""
    return range_of(column).holds(value)


def length_of(column: Any) -> int | None:
    """The most characters a text column holds (PostgreSQL enforces `VARCHAR(n)`, SQLite does
    not), None for unbounded text."""
    return getattr(getattr(column, "type", None), "length", None)


def lookup(session: Any, model: Any, key: Any) -> Any:
    """`session.get(model, key)`, or None when an integer of the key is beyond its primary-key
    column (such a row cannot exist; the store would refuse the query)."""
    values = key if isinstance(key, tuple) else (key,)
    for column, value in zip(_primary_key(model), values, strict=True):
        if type(value) is int and isinstance(column.type, Integer) and not fits(column, value):
            return None
    return session.get(model, key)


@cache
def _primary_key(model: Any) -> tuple[Any, ...]:
    return tuple(inspect(model).primary_key)


def parse_int(text: str) -> int | None:
    """An optional minus and ASCII digits, else None (`int()` would also take `1_000`, ` 7`,
    `+7` and other scripts' digits, which no API documents)."""
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > 40 or not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)


def within(where: Any) -> AfterValidator:
    """For a FastAPI parameter or a pydantic field: `Annotated[int, within(FaultRule.id)]` (a
    column) or `Annotated[int, within(ROW_COUNT)]` (a range). A value beyond it is refused with
    the error type `not_stored`; in a path it names nothing, so the app answers 404
    (core/errors), elsewhere 400."""
    bounds = where if isinstance(where, IntRange) else range_of(where)

    def check(value: int | None) -> int | None:
        if value is not None and not bounds.holds(value):
            raise PydanticCustomError(
                NOT_STORED,
                "Input should be from {low} to {high}",
                {"low": bounds.low, "high": bounds.high},
            )
        return value

    return AfterValidator(check)


NOT_STORED = "not_stored"


def path_names_nothing(errors: list[dict[str, Any]]) -> bool:
    """Whether a request's validation errors are all path integers beyond their column: such a
    path names nothing (404) rather than being malformed (400)."""
    return bool(errors) and all(
        error.get("type") == NOT_STORED and tuple(error.get("loc", ()))[:1] == ("path",)
        for error in errors
    )


# --- text -------------------------------------------------------------------------------------


def bad_text(text: str) -> str | None:
    """What in the text no store can keep, or None: a NUL character (PostgreSQL text cannot hold
    it) or a lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return "a NUL character (U+0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate, which is not a character"
    return None


def _stored_text(value: str) -> str:
    reason = bad_text(value)
    if reason is not None:
        raise PydanticCustomError("bad_text", "Text holds {reason}", {"reason": reason})
    return value


# For pydantic fields and FastAPI parameters: text that `bad_text` accepts.
StoredText = Annotated[str, AfterValidator(_stored_text)]


def find_bad_number(value: Any, pointer: str = "") -> tuple[str, str] | None:
    """(JSON pointer, what is wrong) of the first number `amount_ok` refuses, or None."""
    if type(value) in (int, float):
        return (
            None
            if amount_ok(value)
            else (pointer, f"a number not finite or beyond ±{MAX_AMOUNT:g}")
        )
    if isinstance(value, (dict, list)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            found = find_bad_number(item, f"{pointer}/{_escape_pointer(str(key))}")
            if found is not None:
                return found
    return None


def find_bad_text(value: Any, pointer: str = "") -> tuple[str, str] | None:
    """(JSON pointer, what is wrong) of the first string or key in a JSON value that `bad_text`
    refuses, or None."""
    if isinstance(value, str):
        reason = bad_text(value)
        return None if reason is None else (pointer, reason)
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{pointer}/{_escape_pointer(key)}"
            reason = bad_text(key)
            if reason is not None:
                return here, reason
            found = find_bad_text(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_bad_text(item, f"{pointer}/{index}")
            if found is not None:
                return found
    return None


def _escape_pointer(key: str) -> str:
    """A key as a JSON pointer step; a lone surrogate is written as its escape (`\\ud800`), so
    that the error naming it can be written as UTF-8."""
    step = key.replace("~", "~0").replace("/", "~1")
    return step if step.isascii() else step.encode("utf-8", "backslashreplace").decode()


# --- amounts ----------------------------------------------------------------------------------


def amount_ok(value: float | int) -> bool:
    """A finite number no larger than MAX_AMOUNT in size (bools are not numbers)."""
    return type(value) in (int, float) and -MAX_AMOUNT <= value <= MAX_AMOUNT


# --- JSON bodies ------------------------------------------------------------------------------


class JsonRefused(ValueError):
    """A request body that is not strict JSON, or a value of it holding text the store cannot
    keep: `pointer` names that value ("" for the body itself), `problem` says what is wrong
    ("holds a NUL character (U+0000)"); `str()` says both."""

    def __init__(self, problem: str, pointer: str = "") -> None:
        super().__init__(f"{pointer or 'The request body'} {problem}")
        self.problem = problem
        self.pointer = pointer

    @property
    def reason(self) -> str:
        return str(self)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _int_or_float(text: str) -> int | float:
    """An integer beyond 64 bits is read as the number it is (a float, infinite past a double),
    so an integer field refuses it, as the real APIs' int64 fields do."""
    value = int(text)
    return value if INT64.holds(value) else float(text)


def read_json(raw: bytes) -> Any:
    """A request body as strict JSON: NaN and Infinity, nesting past the parser's depth and
    invalid UTF-8 are refused, so is any string or key `bad_text` refuses.

    orjson reads it (an integer beyond 64 bits becomes a float); what orjson refuses (a byte
    order mark, a lone surrogate escape, a number too large for a double, nesting deeper than
    1024) is read again by the standard library, whose answer is then checked whole. orjson's
    answers only need the check when the body has an escaped NUL (it takes no raw one).
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if b"\\u0000" in raw:
            _refuse_bad_text(value)
        return value
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_int=_int_or_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise JsonRefused("is not valid JSON") from None
    _refuse_bad_text(value)
    return value


def _refuse_bad_text(value: Any) -> None:
    found = find_bad_text(value)
    if found is not None:
        pointer, reason = found
        raise JsonRefused(f"holds {reason}", pointer)
