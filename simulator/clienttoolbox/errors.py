"""ClientToolbox errors and the one renderer of its envelope.

Every answer is `<response status="success|error">…</response>` (XML by default), or the same
tree as JSON (`{"status": …, <children>}`) with `output=JSON`, or JSONP with `callback`.
`condensed=yes` removes the whitespace. The JSON mapping lives here only, so it can be
corrected in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.responses import Response

from simulator.clienttoolbox.operations import kept_fields
from simulator.core.dispatch import query_values
from simulator.core.errors import ApiError
from simulator.core.formats import (
    XML_TYPE,
    is_valid_callback,
    json_response,
    jsonp_response,
)


class ClientToolboxError(ApiError):
    """An error answered as `<response status="error"><error>message</error></response>`.

    `details` adds children after `<error>` (e.g. the line errors of a rejected batch).
    """

    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(status, message)
        self.details = details or {}


def json_tree(content: Any) -> Any:
    """The JSON twin of an xmltodict tree: attributes (`@name`) become plain members."""
    if isinstance(content, dict):
        return {(k[1:] if k.startswith("@") else k): json_tree(v) for k, v in content.items()}
    if isinstance(content, list):
        return [json_tree(v) for v in content]
    return content


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _escape(str(value))


class KeptView(dict[str, Any]):
    """A view kept between requests and shared by them (never change it once made): its XML
    element is rendered once for each name and depth it is emitted at, then reused."""

    __slots__ = ("_xml",)

    def __init__(self, view: Mapping[str, Any]) -> None:
        super().__init__(view)
        self._xml: dict[tuple[str, int], list[str]] = {}

    def xml_lines(self, name: str, depth: int) -> list[str]:
        lines = self._xml.get((name, depth))
        if lines is None:
            lines = []
            _emit_element(name, self, depth, lines)
            self._xml[(name, depth)] = lines
        return lines


def _emit(name: str, value: Any, depth: int, out: list[str]) -> None:
    # Dispatched on the exact type, the usual ones first (a bool, a subclass or any other
    # value takes `_text`, as xmltodict prints it).
    kind = type(value)
    if kind is str:
        out.append(f"{'  ' * depth}<{name}>{_escape(value)}</{name}>")
    elif kind is int or kind is float:  # their text has nothing to escape
        out.append(f"{'  ' * depth}<{name}>{value}</{name}>")
    elif kind is list:
        for item in value:
            _emit(name, item, depth, out)
    elif kind is KeptView:
        out.extend(value.xml_lines(name, depth))
    elif isinstance(value, dict):
        _emit_element(name, value, depth, out)
    elif value is None:
        out.append(f"{'  ' * depth}<{name}></{name}>")
    else:
        out.append(f"{'  ' * depth}<{name}>{_text(value)}</{name}>")


def _emit_element(name: str, value: dict[str, Any], depth: int, out: list[str]) -> None:
    """An element with its `@attributes` and children; `<name></name>` on one line when no
    child gives a line (none, or only empty lists), as xmltodict writes it."""
    pad = "  " * depth
    attributes = ""
    for key in value:  # a loop, not any(): most elements have no attribute
        if key[:1] == "@":
            attributes = "".join(
                f' {k[1:]}="{_escape(str(v)).replace(chr(34), "&quot;")}"'
                for k, v in value.items()
                if k[:1] == "@"
            )
            break
    out.append(f"{pad}<{name}{attributes}>")
    first_child = len(out)
    for key, child in value.items():
        if key[:1] != "@":
            _emit(key, child, depth + 1, out)
    if len(out) == first_child:
        out[-1] = f"{pad}<{name}{attributes}></{name}>"
    else:
        out.append(f"{pad}</{name}>")


def xml_document(root: str, content: dict[str, Any]) -> str:
    """The same text as `xmltodict.unparse(..., pretty=True, indent="  ")` for the trees this
    API builds (elements, `@attributes`, lists, None), about five times faster."""
    out = ['<?xml version="1.0" encoding="utf-8"?>']
    _emit(root, content, 0, out)
    return "\n".join(out)


def render(
    fields: Mapping[str, str], status_word: str, content: dict[str, Any], http_status: int = 200
) -> Response:
    """Render `content` inside the response envelope in the format the fields ask for."""
    output = (fields.get("output") or "XML").strip().upper()
    callback = (fields.get("callback") or "").strip()
    condensed = (fields.get("condensed") or "").strip().lower() in {"yes", "y", "true", "1"}
    if callback and is_valid_callback(callback):
        return jsonp_response(
            callback,
            {"status": status_word, **json_tree(content)},
            http_status,
            pretty=not condensed,
        )
    if output == "JSON":
        body = {"status": status_word, **json_tree(content)}
        if condensed:
            return json_response(body, http_status)
        from simulator.core.formats import dump_json

        return Response(dump_json(body, pretty=True), http_status, media_type="application/json")
    # `condensed` applies only to JSON(P) output, as the docs say.
    body = xml_document("response", {"@status": status_word, **content})
    return Response(body.encode(), http_status, media_type=XML_TYPE)


def error_fields(request: Request) -> Mapping[str, str]:
    """The fields that choose the output format, as far as they are known for this request."""
    cached = kept_fields(request.scope)
    if cached is not None:
        return cached
    return query_fields(request)


def query_fields(request: Request) -> dict[str, str]:
    """The query's fields, names lower-cased (names match case-insensitively)."""
    return {name.lower(): value for name, value in query_values(request).items()}


def render_error(request: Request, status: int, message: str, code: Any = None) -> Response:
    """`<response status="error">` in the asked output format (it has no error code)."""
    return render(error_fields(request), "error", {"error": message}, status)


async def handle_clienttoolbox_error(request: Request, exc: ClientToolboxError) -> Response:
    return render(error_fields(request), "error", {"error": exc.message, **exc.details}, exc.status)
