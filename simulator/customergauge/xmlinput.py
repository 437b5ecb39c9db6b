"""The Stream API's XML input: `<records><record><Field>value</Field>…</record>…</records>`.

Parsed with expat directly (fast, streaming) and safely: a DOCTYPE, an entity declaration or an
external entity stops the parse at once, before anything is expanded; nesting deeper than a
field inside a record is refused at the first element too deep, so 10,000-deep input costs nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes
from xml.parsers import expat

from simulator.customergauge.errors import INVALID_ARGUMENTS, NO_DATA, TOO_MANY_RECORDS

# Form fields that may carry the XML when a client sends it as a named form value.
XML_FORM_FIELDS = ("xml", "data", "records", "body", "file")


class XmlInputError(Exception):
    """Refused input: the native code, message and HTTP status to answer with."""

    def __init__(self, message: str, code: int = INVALID_ARGUMENTS, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def is_blank(body: bytes) -> bool:
    return not body.strip(b" \t\r\n\x00")


def looks_like_xml(body: bytes) -> bool:
    head = body.lstrip(b" \t\r\n")
    return head.startswith((b"<", b"\xef\xbb\xbf<", b"\xff\xfe", b"\xfe\xff"))


def form_pairs(body: bytes) -> list[tuple[bytes, bytes]]:
    """`a=1&b=2` as bytes pairs (`+` is a space, `%XX` decoded), without guessing a charset."""
    pairs = []
    for part in body.split(b"&")[:50]:
        key, _, value = part.partition(b"=")
        pairs.append(
            (unquote_to_bytes(key.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" ")))
        )
    return pairs


def xml_from_body(body: bytes, content_type: str) -> bytes:
    """The XML document of a request body: raw whatever the Content-Type says, or the one value
    of a form-encoded body (`--data-urlencode xml=<records>…` or a bare encoded document)."""
    if looks_like_xml(body) or "x-www-form-urlencoded" not in content_type.lower():
        return body
    pairs = form_pairs(body)
    named = {key.strip().lower(): value for key, value in pairs}
    for field in XML_FORM_FIELDS:
        if named.get(field.encode(), b"").strip():
            return named[field.encode()]
    if len(pairs) == 1:
        key, value = pairs[0]
        return value if value.strip() else key
    return body


class _RecordsBuilder:
    """Expat callbacks that build one dict per `<record>`, field name -> text."""

    def __init__(self, max_records: int | None) -> None:
        self.records: list[dict[str, str]] = []
        self.max_records = max_records
        self.depth = 0
        self.record: dict[str, str] = {}
        self.field = ""
        self.text: list[str] = []

    def start(self, name: str, _attributes: Any) -> None:
        self.depth += 1
        if self.depth == 1:
            if name != "records":
                raise XmlInputError(
                    f"Invalid XML: the root element must be <records>, not <{name}>"
                )
        elif self.depth == 2:
            if name != "record":
                raise XmlInputError(
                    f"Invalid XML: <records> may only contain <record>, not <{name}>"
                )
            self.record = {}
            self.records.append(self.record)
            if self.max_records is not None and len(self.records) > self.max_records:
                raise XmlInputError(
                    f"Too many records: at most {self.max_records:,} records per upload",
                    TOO_MANY_RECORDS,
                )
        elif self.depth == 3:
            self.field = name
            self.text = []
        else:
            raise XmlInputError(
                f"Invalid XML: field <{self.field}> of record {len(self.records)} "
                f"contains the element <{name}>; fields hold plain values"
            )

    def end(self, _name: str) -> None:
        if self.depth == 3:
            self.record[self.field] = "".join(self.text).strip()
        self.depth -= 1

    def characters(self, data: str) -> None:
        if self.depth == 3:
            self.text.append(data)


def _refuse_doctype(*_args: Any) -> None:
    raise XmlInputError("Invalid XML: DOCTYPE and ENTITY declarations are not allowed")


def parse_records(document: bytes, max_records: int | None = None) -> list[dict[str, str]]:
    """Every `<record>` as a dict of its fields; XmlInputError for anything else."""
    if is_blank(document):
        raise XmlInputError("No data provided", NO_DATA)
    # Leading blank lines before `<?xml …?>` are a common slip; expat would refuse them.
    document = document.lstrip(b" \t\r\n")
    builder = _RecordsBuilder(max_records)
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.ExternalEntityRefHandler = _refuse_doctype
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    try:
        parser.Parse(document, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise XmlInputError(
            f"Invalid XML: {reason} at line {exc.lineno}, column {exc.offset + 1}"
        ) from None
    except (UnicodeError, LookupError, ValueError) as exc:
        raise XmlInputError(f"Invalid XML: {exc}") from None
    except RecursionError:
        raise XmlInputError("Invalid XML: nested too deep") from None
    if not builder.records:
        raise XmlInputError("No data provided", NO_DATA)
    return builder.records
