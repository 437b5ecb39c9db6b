"""Rendering shared by the APIs: JSON, XML and JSONP bodies, built once here."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_plus

import orjson
import xmltodict
from starlette.responses import Response

JSON_TYPE = "application/json"
XML_TYPE = "application/xml"
JS_TYPE = "application/javascript"

# A JSONP callback is a JavaScript identifier path (`cb`, `jQuery123_456`, `ns.fn`), nothing else.
CALLBACK_PATTERN = re.compile(r"^[A-Za-z_$][\w$]{0,127}(\.[A-Za-z_$][\w$]{0,127}){0,4}$")


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` with NULs and lone surrogates replaced by U+FFFD: text that PostgreSQL stores
    and UTF-8 encodes (a request can put either into a path, a form field or a JSON string)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = _SURROGATE.sub("\ufffd", value)
    return value


def number(value: float, places: int | None = 2) -> int | float:
    """A decimal as the APIs print it in JSON: rounded to `places` decimals (None: as it is),
    whole values as integers (`5`, not `5.0`; `0`, never `-0`). The one rounding rule of every
    balance, amount and point figure the simulator answers."""
    value = float(value) + 0.0  # -0.0 + 0.0 is 0.0
    if places is not None:
        value = round(value, places) + 0.0
    return int(value) if value.is_integer() else value


class JsonText:
    """JSON text that goes into a body as it is, e.g. a stored JSON column answered unchanged:
    neither parsed on the way out of the store nor serialized again."""

    __slots__ = ("text",)

    def __init__(self, text: str | bytes) -> None:
        self.text = text


def _as_fragment(value: Any) -> Any:
    if isinstance(value, JsonText):
        return orjson.Fragment(value.text)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _as_parsed(value: Any) -> Any:
    if isinstance(value, JsonText):
        return load_json(value.text)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dump_json(data: Any, pretty: bool = False) -> bytes:
    """Compact UTF-8 JSON. orjson writes it about twenty times faster than the standard library;
    what orjson refuses (integers beyond 64 bits, keys that are not strings) is written by the
    standard library, as before."""
    if pretty:
        return json.dumps(data, ensure_ascii=False, indent=2, default=_as_parsed).encode()
    try:
        return orjson.dumps(data, default=_as_fragment)
    except TypeError:
        return json.dumps(
            data, ensure_ascii=False, separators=(",", ":"), default=_as_parsed
        ).encode()


def store_json(data: Any) -> str:
    """The text of a JSON column (the engine's serializer)."""
    return dump_json(data).decode()


def load_json(text: str | bytes) -> Any:
    """A JSON column's value (the engine's deserializer); the standard library reads what orjson
    does not (integers beyond 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def json_response(
    data: Any,
    status: int = 200,
    media_type: str = JSON_TYPE,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(dump_json(data), status_code=status, media_type=media_type, headers=headers)


def xml_text(root: str, content: Any, pretty: bool = True) -> str:
    """`{"@attr": v, "child": ...}` under `<root>` (xmltodict conventions), with declaration."""
    return xmltodict.unparse({root: content}, pretty=pretty, indent="  " if pretty else "")


def xml_response(
    root: str, content: Any, status: int = 200, pretty: bool = True, media_type: str = XML_TYPE
) -> Response:
    return Response(xml_text(root, content, pretty), status_code=status, media_type=media_type)


def is_valid_callback(callback: str) -> bool:
    return bool(CALLBACK_PATTERN.match(callback))


def jsonp_response(callback: str, data: Any, status: int = 200, pretty: bool = False) -> Response:
    body = callback.encode() + b"(" + dump_json(data, pretty) + b");"
    return Response(body, status_code=status, media_type=JS_TYPE)


def form_pairs(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a query string or an urlencoded form, in order, as Starlette
    reads both (urllib's `parse_qsl` for a query, python-multipart for a form; they agree):
    `&` separates, empty chunks are skipped, a chunk without `=` is a name with an empty value,
    each part `unquote_plus`ed (only a part with a `%` or a `+` needs it)."""
    pairs = []
    for chunk in text.split("&"):
        if not chunk:
            continue
        name, _, value = chunk.partition("=")
        if "%" in chunk or "+" in chunk:
            name, value = unquote_plus(name), unquote_plus(value)
        pairs.append((name, value))
    return pairs
