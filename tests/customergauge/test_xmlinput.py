"""The XML reader on its own: any record set written as XML reads back the same."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.customergauge.xmlinput import XmlInputError, parse_records, xml_from_body

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
# XML 1.0 characters without the ones that need care (control characters are not allowed).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
).map(str.strip)
RECORDS = st.lists(st.dictionaries(NAMES, TEXT, max_size=6), min_size=1, max_size=20)


def to_xml(records: list[dict[str, str]]) -> bytes:
    parts = ["<?xml version='1.0' encoding='utf-8'?><records>"]
    for record in records:
        parts.append("<record>")
        parts.extend(f"<{k}>{escape(v)}</{k}>" for k, v in record.items())
        parts.append("</record>")
    parts.append("</records>")
    return "".join(parts).encode()


@settings(max_examples=150, deadline=None)
@given(RECORDS)
def test_records_round_trip(records: list[dict[str, str]]) -> None:
    assert parse_records(to_xml(records)) == records


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_anything_but_a_refusal(data: bytes) -> None:
    try:
        records = parse_records(xml_from_body(data, "application/x-www-form-urlencoded"))
    except XmlInputError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert isinstance(records, list) and records
