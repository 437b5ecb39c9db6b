"""The wire-value readers, directly: lines, amounts, dates, id lists, header numbering."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from simulator.clienttoolbox.auth import MAX_FORM_FIELDS, URLENCODED, urlencoded_fields
from simulator.clienttoolbox.errors import ClientToolboxError
from simulator.clienttoolbox.parsing import (
    LineError,
    amount_of,
    data_lines,
    id_list,
    iso_date,
    numbered_headers,
    strict_iso_date,
)


def test_memory_stays_flat_while_parsing_a_large_batch() -> None:
    text = "\n".join(f"{i}|{i}|First{i}|Last{i}|2001-01-01|555-{i:05d}" for i in range(40_000))
    tracemalloc.start()
    count = sum(1 for _ in data_lines(text, "|"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 40_000
    assert peak < 64 * 1024  # a few lines at a time, never a copy of the 1.6 MB text


def test_line_endings_blank_lines_and_quotes() -> None:
    assert list(data_lines("a|b\r\nc\rd| e \n\n  \nf", "|")) == [
        (1, ["a", "b"]),
        (2, ["c"]),
        (3, ["d", "e"]),
        (4, ["f"]),
    ]
    assert list(data_lines('1,"x, y","two\nlines"\r2,"a""b"', ",")) == [
        (1, ["1", "x, y", "two\nlines"]),
        (2, ["2", 'a"b']),
    ]
    assert list(data_lines("a\tb\t\n", "\t")) == [(1, ["a", "b", ""])]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("14,95", 14.95),
        (".75", 0.75),
        ("0,50", 0.5),
        ("2.00", 2.0),
        ("50", 50.0),
        ("7,", None),
        ("", None),
        ("1,234.50", None),
        ("-5", None),
        ("1e3", None),
        (",", None),
    ],
)
def test_amounts(raw: str, value: float | None) -> None:
    if value is None:
        with pytest.raises(LineError):
            amount_of(raw)
    else:
        assert amount_of(raw) == value


def test_dates() -> None:
    assert iso_date("2010-03-15") == "2010-03-15"
    assert iso_date("03/15/2010") == "2010-03-15"
    for bad in ("2013-0315", "2010-02-30", "15/03/2010", "2010-3-15"):
        with pytest.raises(LineError):
            iso_date(bad)
    with pytest.raises(LineError):
        strict_iso_date("03/15/2010", "custom_date")


def test_id_lists() -> None:
    assert id_list("898989889|,|13234545|,|34534554") == ["898989889", "13234545", "34534554"]
    assert id_list("aaaa,bbbb, cccc") == ["aaaa", "bbbb", "cccc"]
    assert id_list(" a , ,a,b ") == ["a", "b"]
    assert id_list("") == []


def test_header_numbering() -> None:
    fields = {"h_1": "Code", "h_2": "first_name", "h_4": "x"}
    assert numbered_headers(fields, "h_") == {1: "code", 2: "first_name", 4: "x"}
    assert numbered_headers({"h_2": "code"}, "h_") == {2: "code"}
    for bad in ({"h_1": "a", "h_4": "b"}, {"h_3": "a"}, {"h_0": "a"}, {}, {"h_1": " "}):
        with pytest.raises(ClientToolboxError):
            numbered_headers(bad, "h_")


@pytest.mark.parametrize(
    "content",
    [
        {"@status": "success", "batch": {"@status": "imported", "customers": {"new": 2}}},
        {
            "@status": "error",
            "error": "a < b & c > \"d\" 'e'",
            "errors": {"error": [{"line": 1, "message": "m"}, {"line": 2, "message": "n"}]},
        },
        {"@status": "success", "customers": {"customer": []}, "count": 0, "none": None},
        {"@status": "success", "x": {"y": [1, 2.5, True, False]}, "empty": {}, "u": "€ ü"},
        {"@status": "success", "a": {"b": {"c": {"d": "deep"}}}, "list": [{"k": 1}, {"k": 2}]},
    ],
)
def test_xml_writer_matches_xmltodict(content: dict) -> None:
    import xmltodict

    from simulator.clienttoolbox.errors import xml_document

    expected = xmltodict.unparse({"response": content}, pretty=True, indent="  ")
    assert xml_document("response", content) == expected


def test_a_kept_view_renders_as_the_same_tree_and_once_per_place() -> None:
    """A view shared between requests (errors.KeptView) keeps its XML: the document is the
    one the plain tree gives, at any depth, and a second document reuses the first's lines."""
    import xmltodict

    from simulator.clienttoolbox.errors import KeptView, xml_document

    view = {"id": "7", "name": "A & B", "items": {"item": [{"id": "1"}, {"id": "2"}]}}
    kept = KeptView(view)
    for content in (
        {"@status": "success", "campaigns": {"campaign": [kept, {"id": "8"}]}},
        {"@status": "success", "campaign": kept},
    ):
        plain = {k: v for k, v in content.items()}
        expected = xmltodict.unparse({"response": plain}, pretty=True, indent="  ")
        assert xml_document("response", content) == expected
        assert xml_document("response", content) == expected
    assert sorted(kept._xml) == [("campaign", 1), ("campaign", 2)]
    assert dict(kept) == view


FORM_BYTES = st.lists(
    st.sampled_from(
        [
            b"&",
            b"=",
            b"%",
            b"+",
            b";",
            b"a",
            b"B",
            b"%41",
            b"%e2%82%ac",
            b"%zz",
            b"\xc3\xa9",
            b"\xff",
            b" ",
            b"\x00",
        ]
    ),
    max_size=40,
).map(b"".join)


def starlette_fields(body: bytes) -> list[tuple[str, str]]:
    """What Starlette's own form parser gives for a urlencoded body."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"content-type", URLENCODED.encode())],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def parse() -> list[tuple[str, str]]:
        form = await Request(scope, receive).form()
        return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]

    return asyncio.run(parse())


@settings(max_examples=300, deadline=None)
@given(FORM_BYTES)
def test_urlencoded_fields_are_starlettes(body: bytes) -> None:
    assert urlencoded_fields(body) == starlette_fields(body)


@pytest.mark.parametrize(
    "body",
    [b"", b"&", b"&&a=1&&", b"a", b"a&b=", b"=x", b"a=b=c", b"a+b=c+d%2B", b"k=%C3%A9&K=\xc3\xa9"],
)
def test_urlencoded_fields_edge_cases_are_starlettes(body: bytes) -> None:
    assert urlencoded_fields(body) == starlette_fields(body)


def test_more_fields_than_starlette_takes_are_left_to_it() -> None:
    assert urlencoded_fields(b"&".join([b"a=1"] * MAX_FORM_FIELDS)) is not None
    assert urlencoded_fields(b"&".join([b"a=1"] * (MAX_FORM_FIELDS + 1))) is None
