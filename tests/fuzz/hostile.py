"""Hostile requests: the valid requests of `surface.py` with one slot replaced by a hostile value.

The values come in named categories (so a finding says what kind of input broke what) and are
used two ways: `every_probe` enumerates the whole corpus over every slot (the deterministic
sweep), and `probe_strategy` lets hypothesis draw an operation, a slot and a value, mixing
the corpus with generated integers, floats and text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.fuzz.surface import Operation

# --- the corpus -----------------------------------------------------------------------------

# Path and query values (text as the client means it; percent-encoded when sent).
TEXT_VALUES: dict[str, list[str]] = {
    "integer range": [
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "1" + "0" * 40,
    ],
    "odd number": [
        "0",
        "-1",
        "-0",
        "+1",
        " 1",
        "1 ",
        "1_000",
        "1e3",
        "1.5",
        "0x10",
        "٣",
        "²",
        "１",
    ],
    "nul": ["a\x00b", "\x00", "1\x00", "\x00\x00\x00"],
    "unicode": ["ü", "€uro", "😀", "\u202eevil", "İ", "ﬀ", "\u200b", "\ufeff", "\ufffd", "ａ"],
    "traversal": ["..", "../..", "../../etc/passwd", "./x", "a/b", "a/../b", "%2e%2e"],
    "percent": ["%", "%zz", "%ff", "%c3%28", "%25", "%u0041", "%%"],
    "control": ["\x01", "\x1f", "\x7f", "a\nb", "\r\n", "\t"],
    "size": ["", " ", "x" * 1001, "y" * 20000],
}

# Raw JSON texts put in place of one value of a JSON body.
JSON_VALUES: dict[str, list[str]] = {
    "integer range": [
        "2147483648",
        "-2147483649",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1" + "0" * 40,
        "1" + "0" * 400,
    ],
    "non-finite": ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"],
    "overflow": ["1e308", "1.7e308", "-1.7e308", "1e300", "1e16", "-1e16", "4.9e-324"],
    "odd number": ["0", "-1", "-0.0", "0.5", "1E2", "1e-400"],
    "wrong type": ['"x"', '"1"', "true", "false", "null", "[]", "{}", "[1, 2]", '{"a": 1}'],
    "nul": ['"a\\u0000b"', '"\\u0000"', '["\\u0000"]', '{"k\\u0000": 1}'],
    "unicode": [
        '"\\ud800"',
        '"\\udfff"',
        '{"\\ud800": 1}',
        '"😀"',
        '"\\u202e"',
        '"İ"',
        '"\\ufeff"',
    ],
    "size": ['""', '"' + "x" * 5000 + '"', "[" + ",".join(["1"] * 5000) + "]"],
    "nesting": ["[" * 200 + "]" * 200, '{"a":' * 200 + "1" + "}" * 200],
}

# Whole bodies (bytes) sent instead of the valid one.
WHOLE_BODIES: dict[str, list[bytes]] = {
    "empty": [b"", b" ", b"\n"],
    "wrong type": [b"null", b"[]", b'"x"', b"1", b"true", b"[{}]"],
    "malformed": [b"{", b"}", b'{"a":}', b"{'a': 1}", b"NaN", b"\xff\xfe", b"\xef\xbb\xbf{}"],
    "nul": [b"\x00", b'{"a": "\x00"}', b"{\x00}"],
    "nesting": [b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000],
}

# Deep nesting past any parser's recursion limit, and a body near the ceiling: each once per
# API (tests/fuzz/test_api_fuzz.py), not in every drawn example.
DEEP_NESTING = b"[" * 100_000 + b"]" * 100_000
LARGE_BODY_BYTES = 10 * 1024 * 1024

# Header values put in place of (or beside) the operation's headers.
HEADER_VALUES: dict[str, list[tuple[str, str]]] = {
    "content type": [
        ("content-type", "text/plain"),
        ("content-type", "application/json; charset=latin-1"),
        ("content-type", "multipart/form-data; boundary=x"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-type", "application/xml"),
        ("content-type", ";;;"),
    ],
    "credentials": [
        ("authorization", "ApiKey-v1 "),
        ("authorization", "ApiKey-v1 " + "k" * 5000),
        ("authorization", "api_key \u00ff\u00fe"),
        ("authorization", "Bearer x"),
        ("authorization", "Basic %%%"),
        ("x-api-key", "\u00e9"),
        ("api_access_key", "x" * 300),
    ],
    "other": [
        ("content-length", "abc"),
        ("idempotency-key", "k" * 5000),
        ("idempotency-key", "\u00e9\u00e8"),
        ("x-request-id", "r" * 500),
        ("x-simulator-fault", "error=abc"),
        ("x-simulator-fault", "latency=99999999999999999999ms"),
        ("accept", "application/xml"),
    ],
}

# ClientToolbox batch data columns and other form values.
FORM_VALUES: dict[str, list[str]] = {
    "integer range": ["2147483648", "9223372036854775808", "-1", "1" + "0" * 40],
    "overflow": [
        "9" * 32,
        "9" * 400,
        "1e308",
        "1,7e308",
        "inf",
        "NaN",
        "-0",
        "99999999999999999,99",
    ],
    "nul": ["a\x00b", "\x00"],
    "unicode": ["ü", "😀", "\ufffd", "٣٣", "²"],
    "odd": ["", " ", "|", "||||||||", "\n\n", '"', "'", ",,,", "a" * 5000],
}


# --- a hostile request ----------------------------------------------------------------------


@dataclass
class Probe:
    """One request as sent: `path` and `query` already on the wire (percent-encoded)."""

    operation: Operation
    category: str
    slot: str
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def describe(self) -> str:
        body = (self.body or b"")[:200]
        return f"{self.method} {self.path}?{self.query[:200]} [{self.category} in {self.slot}] {body!r}"


def wire(text: str) -> str:
    """A path or query value as a client sends it (`%` of an escape kept, others encoded)."""
    return quote(text, safe="%") if _looks_escaped(text) else quote(text, safe="")


def _looks_escaped(text: str) -> bool:
    return text.startswith("%") or "%2e" in text


def fill_path(operation: Operation, values: dict[str, str]) -> str:
    path = operation.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def query_string(query: dict[str, str], raw: dict[str, str] | None = None) -> str:
    parts = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items()]
    parts += [f"{quote(k, safe='')}={v}" for k, v in (raw or {}).items()]
    return "&".join(parts)


HOLE = "\ue000hole\ue000"


def json_with(template: Any, location: tuple[Any, ...], raw: str) -> bytes:
    """The template as JSON with the value at `location` replaced by the raw JSON text."""
    copy = json.loads(json.dumps(template))
    if not location:
        return raw.encode("utf-8", "surrogatepass")
    parent = copy
    for step in location[:-1]:
        parent = parent[step]
    parent[location[-1]] = HOLE
    text = json.dumps(copy, ensure_ascii=False)
    return text.replace(json.dumps(HOLE, ensure_ascii=False), raw).encode("utf-8", "surrogatepass")


def json_locations(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value (itself included), parents before children."""
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_locations(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_locations(item, (*here, index))


def encoded_body(operation: Operation, body: Any = None) -> bytes | None:
    body = operation.body if body is None else body
    if body is None:
        return None
    if operation.kind == "json":
        return json.dumps(body).encode()
    if operation.kind == "form":
        return query_string(body).encode()
    return body.encode() if isinstance(body, str) else body


def content_type(operation: Operation) -> dict[str, str]:
    kinds = {
        "json": "application/json",
        "form": "application/x-www-form-urlencoded",
        "xml": "application/xml",
    }
    return {"content-type": kinds[operation.kind]} if operation.kind else {}


def base_probe(operation: Operation, category: str, slot: str) -> Probe:
    return Probe(
        operation,
        category,
        slot,
        operation.method,
        fill_path(operation, {k: wire(v) for k, v in operation.path_values.items()}),
        query_string(operation.query),
        {**operation.headers, **content_type(operation)},
        encoded_body(operation),
    )


def with_path_value(operation: Operation, name: str, value: str, category: str) -> Probe:
    probe = base_probe(operation, category, f"path {name}")
    values = {k: wire(v) for k, v in operation.path_values.items()}
    values[name] = wire(value)
    probe.path = fill_path(operation, values)
    return probe


def with_query_value(operation: Operation, name: str, value: str, category: str) -> Probe:
    probe = base_probe(operation, category, f"query {name}")
    query = {k: v for k, v in operation.query.items() if k != name}
    probe.query = query_string(query, {name: wire(value)})
    return probe


def with_json_value(
    operation: Operation, location: tuple[Any, ...], raw: str, category: str
) -> Probe:
    probe = base_probe(operation, category, "body " + "/".join(map(str, location)))
    probe.body = json_with(operation.body, location, raw)
    return probe


def with_form_value(operation: Operation, name: str, value: str, category: str) -> Probe:
    probe = base_probe(operation, category, f"field {name}")
    fields = dict(operation.body)
    if name.endswith("_Data") and "|" in fields.get(name, ""):
        fields[name] = data_lines_with(fields[name], value)
    else:
        fields[name] = value
    probe.body = query_string(fields).encode("utf-8", "surrogatepass")
    return probe


def data_lines_with(lines: str, value: str) -> str:
    """Batch lines with the value in every column in turn (one line per column)."""
    first = lines.splitlines()[0].split("|")
    out = []
    for column in range(len(first)):
        values = list(first)
        values[column] = value
        out.append("|".join(values))
    return "\n".join(out) + "\n"


def with_xml_value(operation: Operation, value: str, category: str) -> Probe:
    probe = base_probe(operation, category, "xml field")
    escaped = value.replace("&", "&amp;").replace("<", "&lt;")
    probe.body = operation.body.replace("Fuzz", escaped).encode("utf-8", "surrogatepass")
    return probe


def with_body(operation: Operation, body: bytes, category: str) -> Probe:
    probe = base_probe(operation, category, "whole body")
    probe.body = body
    return probe


def with_header(operation: Operation, name: str, value: str, category: str) -> Probe:
    probe = base_probe(operation, category, f"header {name}")
    probe.headers = {k: v for k, v in probe.headers.items() if k.lower() != name}
    probe.headers[name] = value
    return probe


# --- the deterministic sweep ----------------------------------------------------------------


def every_probe(operation: Operation) -> Iterator[Probe]:
    """Every corpus value in every slot of the operation, one slot at a time."""
    for name in operation.path_values:
        for category, values in TEXT_VALUES.items():
            for value in values:
                yield with_path_value(operation, name, value, category)
    names = [*operation.query, *PAGING_NAMES]
    for name in dict.fromkeys(names):
        for category, values in TEXT_VALUES.items():
            for value in values:
                yield with_query_value(operation, name, value, category)
    if operation.kind == "json":
        for location in json_locations(operation.body):
            for category, raws in JSON_VALUES.items():
                for raw in raws:
                    yield with_json_value(operation, location, raw, category)
        for category, bodies in WHOLE_BODIES.items():
            for body in bodies:
                yield with_body(operation, body, category)
    elif operation.kind == "form":
        for name in operation.body:
            for category, values in {**FORM_VALUES, **TEXT_VALUES}.items():
                for value in values:
                    yield with_form_value(operation, name, value, category)
    elif operation.kind == "xml":
        for category, values in TEXT_VALUES.items():
            for value in values:
                yield with_xml_value(operation, value, category)
        for category, bodies in WHOLE_BODIES.items():
            for body in bodies:
                yield with_body(operation, body, category)
    for category, pairs in HEADER_VALUES.items():
        for name, value in pairs:
            yield with_header(operation, name, value, category)


# Query parameters every operation is also tried with (paging and flags of other operations).
PAGING_NAMES = ("skip", "pageSize", "start", "limit", "id", "offset", "dry")


def issue_probes(operation: Operation) -> list[Probe]:
    """The first value of each category the issue found 5xx with, in every slot."""
    firsts = {category: values[0] for category, values in TEXT_VALUES.items() if values}
    firsts["integer range"] = "9223372036854775808"
    probes = [
        with_path_value(operation, name, value, category)
        for name in operation.path_values
        for category, value in firsts.items()
        if category != "nul"
    ]
    probes += [
        with_query_value(operation, name, value, category)
        for name in dict.fromkeys([*operation.query, *PAGING_NAMES])
        for category, value in firsts.items()
        if category != "nul"
    ]
    if operation.kind == "json":
        raws = JSON_VALUES
        probes += [
            with_json_value(operation, location, raw, category)
            for location in json_locations(operation.body)
            for category, values in raws.items()
            for raw in values[:2]
        ]
    elif operation.kind == "form":
        probes += [
            with_form_value(operation, name, value, category)
            for name in operation.body
            for category, values in FORM_VALUES.items()
            for value in values[:3]
        ]
    return probes


# --- hypothesis strategies ------------------------------------------------------------------


def json_number_text(value: float | int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    return str(value)


def corpus(values: dict[str, list[Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.sampled_from([(category, v) for category, vs in values.items() for v in vs])


generated_text = st.one_of(
    st.integers().map(str),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=20),
)
generated_json = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(json_number_text),
    st.floats().map(json_number_text),
    st.text(max_size=30).map(lambda s: json.dumps(s)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ).map(json.dumps),
)

text_value = st.one_of(corpus(TEXT_VALUES), generated_text.map(lambda v: ("generated", v)))
json_value = st.one_of(corpus(JSON_VALUES), generated_json.map(lambda v: ("generated", v)))
form_value = st.one_of(
    corpus({**FORM_VALUES, **TEXT_VALUES}), generated_text.map(lambda v: ("generated", v))
)


@st.composite
def probe_strategy(draw: st.DrawFn, operations: list[Operation]) -> Probe:
    """One operation, one slot, one hostile value."""
    operation = draw(st.sampled_from(operations))
    slots = [("path", name) for name in operation.path_values]
    slots += [("query", name) for name in dict.fromkeys([*operation.query, *PAGING_NAMES])]
    if operation.kind == "json":
        slots += [("json", location) for location in json_locations(operation.body)]
        slots += [("body", None)]
    elif operation.kind == "form":
        slots += [("form", name) for name in operation.body]
    elif operation.kind == "xml":
        slots += [("xml", None), ("body", None)]
    slots += [("header", None)]
    kind, name = draw(st.sampled_from(slots))
    if kind == "path":
        category, value = draw(text_value)
        return with_path_value(operation, name, value, category)
    if kind == "query":
        category, value = draw(text_value)
        return with_query_value(operation, name, value, category)
    if kind == "json":
        category, raw = draw(json_value)
        return with_json_value(operation, name, raw, category)
    if kind == "form":
        category, value = draw(form_value)
        return with_form_value(operation, name, value, category)
    if kind == "xml":
        category, value = draw(text_value)
        return with_xml_value(operation, value, category)
    if kind == "body":
        category, body = draw(corpus(WHOLE_BODIES))
        return with_body(operation, body, category)
    category, (header, value) = draw(corpus(HEADER_VALUES))
    return with_header(operation, header, value, category)
