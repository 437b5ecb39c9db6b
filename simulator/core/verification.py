"""Request verification (what WireMock users do with `verify`): which journaled requests match a
filter or a matcher, and the nearest declared operation of a request no route served.

A `JournalFilter` is what the store selects (tenant, api, operation, method, path, status, time,
...); a `RequestMatcher` (the body of `POST /__admin/requests/count` and `/find`, docs/admin.md)
adds body matchers, tested here on each selected entry's journaled body: a JSON path that equals
or contains a value, a form field that equals one, an XML element whose text equals one. Names
(`api`, `operation`) are checked against what the APIs declare (core/operations): a misspelt
operation is refused rather than counted as never called.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementPath

from defusedxml import ElementTree
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator.core.clock import parse_instant
from simulator.core.journal import JournalFilter
from simulator.core.operations import UNKNOWN_CALL


class VerificationError(ValueError):
    """A refused filter or matcher (the admin API answers 400 with its message)."""


# --- what the store selects ----------------------------------------------------------------------

STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)


def known_api(name: str) -> str:
    from simulator.core.registry import api_named, api_specs

    if api_named(name) is None:
        known = ", ".join(spec.name for spec in api_specs())
        raise VerificationError(f"unknown api {name!r}; known: {known}")
    return name


def operation_names(name: str, api: str | None) -> tuple[str, ...]:
    """The journal names a filter's operation (a name or alias, any case) stands for."""
    from simulator.core.registry import api_specs

    names = {
        operation.name
        for spec in api_specs()
        if api is None or spec.name == api
        for operation in spec.operations.select(name)
    }
    if not names and name.casefold() == UNKNOWN_CALL:
        return (UNKNOWN_CALL,)
    if not names:
        where = f"api {api}" if api else "no api"
        raise VerificationError(
            f"{where} declares an operation {name!r} (docs/coverage.md lists them)"
        )
    return tuple(sorted(names))


def status_filter(value: int | str | None) -> tuple[int | None, int | None]:
    """(exact status, status class) of `404` or `4xx`."""
    if value is None:
        return None, None
    text = str(value).strip()
    found = STATUS_CLASS.match(text)
    if found:
        return None, int(found.group(1))
    if text.isascii() and text.isdigit() and len(text) == 3 and 100 <= int(text) <= 599:
        return int(text), None
    if text == "0":  # a dropped connection
        return 0, None
    raise VerificationError(f"status {value!r} is neither a status (404) nor a class (4xx)")


def instant(value: datetime | str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value if isinstance(value, str) else value.isoformat())
    except ValueError:
        raise VerificationError(f"{name}: not an instant: {value!r}") from None


# --- GET /__admin/requests -----------------------------------------------------------------------

QUERY_FILTERS = (
    "tenant",
    "api",
    "operation",
    "method",
    "path",
    "query",
    "status",
    "fault",
    "since",
    "until",
    "before",
    "after",
    "q",
    "limit",
)
MAX_LIMIT = 10_000


def query_filter(params: dict[str, str], allowed: tuple[str, ...] = QUERY_FILTERS) -> JournalFilter:
    """The filter of a query string: every parameter must be one of `allowed`."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise VerificationError(
            f"unknown filter {', '.join(map(repr, unknown))}; filters: {', '.join(allowed)}"
        )
    api = known_api(params["api"]) if params.get("api") else None
    exact, status_class = status_filter(params.get("status"))
    return JournalFilter(
        tenant=params.get("tenant"),
        api=api,
        operations=operation_names(params["operation"], api) if params.get("operation") else None,
        method=params["method"].upper() if params.get("method") else None,
        path=params.get("path") or None,
        query=params.get("query") or None,
        status=exact,
        status_class=status_class,
        fault=params.get("fault") or None,
        since=instant(params.get("since"), "since"),
        until=instant(params.get("until"), "until"),
        before=whole_number(params.get("before"), "before", 1, 2**63 - 1),
        after=whole_number(params.get("after"), "after", 0, 2**63 - 1),
        text=params.get("q") or None,
        limit=whole_number(params.get("limit"), "limit", 1, MAX_LIMIT) or 100,
    )


def whole_number(value: str | None, name: str, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise VerificationError(f"{name} must be a whole number from {low} to {high}")
    return int(value)


# --- POST /__admin/requests/count and /find ------------------------------------------------------

Strict = ConfigDict(extra="forbid", populate_by_name=True)
JSON_PATH_STEP = re.compile(r"""\.([A-Za-z_$][\w$-]*)|\.\*|\[(\d+|\*|'[^']*'|"[^"]*")\]""")


def json_path_steps(path: str) -> list[str | int | None]:
    """`$.a.b[0]['c d'][*]` as steps: a key, an index, or None for every item."""
    if not path.startswith("$"):
        raise ValueError("a JSON path starts with $ (e.g. $.customerSession.profileId)")
    steps: list[str | int | None] = []
    position = 1
    while position < len(path):
        found = JSON_PATH_STEP.match(path, position)
        if found is None:
            raise ValueError(f"cannot read the JSON path from {path[position:]!r}")
        key, bracket = found.group(1), found.group(2)
        if key is not None:
            steps.append(key)
        elif bracket is None or bracket == "*":
            steps.append(None)
        elif bracket.isdigit():
            steps.append(int(bracket))
        else:
            steps.append(bracket[1:-1])
        position = found.end()
    return steps


def json_values(document: Any, steps: list[str | int | None]) -> list[Any]:
    """Every value the steps select in `document`."""
    values = [document]
    for step in steps:
        selected: list[Any] = []
        for value in values:
            if step is None:
                if isinstance(value, list):
                    selected.extend(value)
                elif isinstance(value, dict):
                    selected.extend(value.values())
            elif isinstance(step, int):
                if isinstance(value, list) and step < len(value):
                    selected.append(value[step])
            elif isinstance(value, dict) and step in value:
                selected.append(value[step])
        values = selected
    return values


def contains(value: Any, expected: Any) -> bool:
    """Text holds the text; a list holds an equal item (or one that contains it); an object
    holds every key of an expected object with a value that contains its value."""
    if isinstance(value, str) and isinstance(expected, str):
        return expected in value
    if isinstance(value, list):
        return any(item == expected or contains(item, expected) for item in value)
    if isinstance(value, dict) and isinstance(expected, dict):
        return all(
            k in value and (value[k] == v or contains(value[k], v)) for k, v in expected.items()
        )
    return value == expected


class BodyMatcher(BaseModel):
    """One test of a journaled request body: exactly one of `jsonPath` (with `equals` or
    `contains`), `form` (a form or query field, with `equals`) or `xml` (an element name, or a
    path from the root element such as `record/Email`, with `equals`)."""

    model_config = Strict

    json_path: str | None = Field(default=None, alias="jsonPath", min_length=1, max_length=500)
    form: str | None = Field(default=None, min_length=1, max_length=200)
    xml: str | None = Field(default=None, min_length=1, max_length=500)
    equals: Any = None
    contains: Any = None

    @model_validator(mode="after")
    def one_subject_one_test(self) -> BodyMatcher:
        subjects = [n for n in ("json_path", "form", "xml") if getattr(self, n) is not None]
        if len(subjects) != 1:
            raise ValueError("a body matcher has exactly one of jsonPath, form, xml")
        tests = {"equals", "contains"} & self.model_fields_set  # null is a value to test
        if len(tests) != 1:
            raise ValueError("a body matcher has exactly one of equals, contains")
        if "contains" in tests and self.json_path is None:
            raise ValueError("contains applies to jsonPath; form and xml take equals")
        if self.json_path is not None:
            json_path_steps(self.json_path)
        if self.xml is not None:
            xml_path(self.xml)
        return self

    def matches(self, entry: dict[str, Any]) -> bool:
        body = entry.get("requestBody") or ""
        if self.json_path is not None:
            try:
                document = json.loads(body)
            except ValueError:
                return False
            values = json_values(document, json_path_steps(self.json_path))
            if "contains" in self.model_fields_set:
                return any(contains(v, self.contains) for v in values)
            return any(v == self.equals for v in values)
        if self.form is not None:
            fields = form_fields(entry)
            return self.form.lower() in fields and fields[self.form.lower()] == str(self.equals)
        try:
            root = ElementTree.fromstring(body.encode("utf-8"))
        except Exception:  # not XML (or XML defusedxml refuses): no match
            return False
        return any((e.text or "").strip() == str(self.equals) for e in xml_elements(root, self.xml))


def xml_path(path: str) -> str:
    """An element name or an ElementTree path, checked."""
    try:
        list(ElementPath.iterfind(ElementTree.fromstring(b"<a/>"), path))
    except (SyntaxError, KeyError, TypeError) as exc:
        raise ValueError(f"not an element name or path: {path!r} ({exc})") from None
    return path


def xml_elements(root: Any, path: str | None) -> list[Any]:
    if path is None:
        return []
    if "/" not in path and "[" not in path and path != ".":
        return [root] * (root.tag == path) + [e for e in root.iter(path) if e is not root]
    return list(root.iterfind(path))


def form_fields(entry: dict[str, Any]) -> dict[str, str]:
    """The query's and a form body's fields (urlencoded or multipart), names lower-cased (the
    body wins), as ClientToolbox reads them."""
    fields = {k.lower(): v for k, v in parse_qsl(entry.get("query") or "", keep_blank_values=True)}
    content_type = (entry.get("requestHeaders") or {}).get("content-type", "")
    body = entry.get("requestBody") or ""
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields.update({k.lower(): v for k, v in parse_qsl(body, keep_blank_values=True)})
    elif content_type.startswith("multipart/form-data"):
        fields.update(multipart_fields(content_type, body))
    return fields


def multipart_fields(content_type: str, body: str) -> dict[str, str]:
    """The text fields of a multipart body (a file part's text too); {} when it does not parse."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("utf-8", errors="replace")
    try:
        message = BytesParser(policy=policy.HTTP).parsebytes(head + body.encode("utf-8"))
        if not message.is_multipart():
            return {}
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                content = part.get_payload(decode=True)
                if not isinstance(content, bytes):
                    content = b""
                fields[name.lower()] = content.decode("utf-8", errors="replace")
        return fields
    except Exception:  # a body cut by the journal, or not multipart at all
        return {}


class RequestMatcher(BaseModel):
    """The body of `POST /__admin/requests/count` and `/find` (docs/admin.md)."""

    model_config = Strict

    tenant: str | None = Field(default=None, max_length=64)
    api: str | None = Field(default=None, max_length=32)
    operation: str | None = Field(default=None, min_length=1, max_length=200)
    method: str | None = Field(default=None, min_length=1, max_length=10)
    path: str | None = Field(default=None, min_length=1, max_length=2000)
    path_pattern: str | None = Field(
        default=None, alias="pathPattern", min_length=1, max_length=2000
    )
    query: str | None = Field(default=None, max_length=2000)
    status: int | str | None = None
    fault: str | None = Field(default=None, max_length=200)
    since: datetime | None = None
    until: datetime | None = None
    body: list[BodyMatcher] = Field(default_factory=list, max_length=50)
    limit: int = Field(default=1000, ge=1, le=MAX_LIMIT)

    @field_validator("since", "until", mode="before")
    @classmethod
    def an_instant(cls, value: Any) -> Any:
        return parse_instant(value) if isinstance(value, str) else value

    def journal_filter(self) -> JournalFilter:
        api = known_api(self.api) if self.api else None
        exact, status_class = status_filter(self.status)
        return JournalFilter(
            tenant=self.tenant,
            api=api,
            operations=operation_names(self.operation, api) if self.operation else None,
            method=self.method.upper() if self.method else None,
            path_exact=self.path,
            path_glob=self.path_pattern,
            query=self.query or None,
            status=exact,
            status_class=status_class,
            fault=self.fault,
            since=instant(self.since, "since"),
            until=instant(self.until, "until"),
            limit=None,
        )


def request_matcher(document: Any) -> RequestMatcher:
    """The matcher of a request body; VerificationError naming the first problem."""
    if not isinstance(document, dict):
        raise VerificationError('a matcher is a JSON object, e.g. {"operation": "..."}')
    try:
        return RequestMatcher.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise VerificationError(f"{where}: {message}" if where else message) from None


@dataclass
class Selection:
    """Entries of a matcher: newest first, at most `limit` of them, and how many matched."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0


def select(entries: Any, matcher: RequestMatcher, keep: int) -> Selection:
    """The entries (newest first) whose bodies pass every body matcher."""
    selection = Selection()
    for entry in entries:
        if all(test.matches(entry) for test in matcher.body):
            selection.count += 1
            if len(selection.entries) < keep:
                selection.entries.append(entry)
    return selection


# --- the requests no operation served ---------------------------------------------------------


def with_nearest(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with the declared operation most like what it asked for (by path, or by the
    call field on a call route), or None."""
    from simulator.core.registry import api_named

    spec = api_named(entry["api"])
    nearest = None
    if spec is not None:
        table = spec.operations
        call = form_fields(entry).get(table.call_field) if table.call_field else None
        operation = table.nearest(entry["method"], entry["path"], call)
        if operation is not None:
            path = next((p for p in operation.paths if p == entry["path"]), operation.paths[0])
            nearest = {"operation": operation.name, "method": operation.method, "path": path}
    return {**entry, "nearest": nearest}
