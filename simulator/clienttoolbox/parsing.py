"""Reading the wire values of the batch calls: delimiters, numbered headers, delimited lines,
amounts, dates and yes/no flags. No database here."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from simulator.clienttoolbox.errors import ClientToolboxError
from simulator.core.storable import MAX_AMOUNT, amount_ok

DELIMITERS = {"pipe": "|", "comma": ",", "tab": "\t"}
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
AMOUNT_PATTERN = re.compile(r"^(\d*)(?:[.,](\d+))?$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
US_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def bad_request(message: str) -> ClientToolboxError:
    return ClientToolboxError(400, message)


class LineError(Exception):
    """A problem with one data line: the line is skipped or the batch rejected (per call)."""


def flag(fields: Mapping[str, str], name: str) -> bool | None:
    """A yes/no field: True, False, or None when absent or blank; anything else is an error."""
    raw = fields.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise bad_request(f"Invalid value for {name}: '{raw.strip()}' (expected yes or no)")


def delimiter_of(fields: Mapping[str, str]) -> str:
    raw = (fields.get("delimiter") or "").strip()
    if not raw:
        raise bad_request("Missing delimiter (pipe, comma or tab)")
    delimiter = DELIMITERS.get(raw.lower())
    if delimiter is None:
        raise bad_request(f"Invalid delimiter '{raw}' (expected pipe, comma or tab)")
    return delimiter


def numbered_headers(fields: Mapping[str, str], prefix: str) -> dict[int, str]:
    """`<prefix>1..N` -> {column index: lower-cased name}.

    The numbering may skip one number at a time (that column is then ignored); skipping two or
    more in a row is an error, as the docs say ("Do not skip more than one!").
    """
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    headers: dict[int, str] = {}
    for key, value in fields.items():
        match = pattern.match(key)
        if match:
            number = int(match.group(1))
            if number < 1:
                raise bad_request(f"Invalid header field {key}: numbering starts at 1")
            headers[number] = value.strip()
    if not headers:
        raise bad_request(f"Missing {prefix}1: at least one header is required")
    numbers = sorted(headers)
    previous = 0
    for number in numbers:
        if number - previous > 2:
            missing = ", ".join(f"{prefix}{n}" for n in range(previous + 1, number))
            raise bad_request(
                f"Header numbering skips more than one: {missing} missing before {prefix}{number}"
            )
        previous = number
    seen: dict[str, int] = {}
    for number in numbers:
        name = headers[number].lower()
        if not name:
            raise bad_request(f"Empty header {prefix}{number}")
        if name in seen and name != "none":
            raise bad_request(
                f"Duplicate header '{headers[number]}' in {prefix}{seen[name]} and {prefix}{number}"
            )
        seen[name] = number
    return {number: headers[number].lower() for number in numbers}


# One line with its ending (CRLF, CR or LF), or a last line without one.
LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+$")


def raw_lines(text: str) -> Iterator[str]:
    """The lines of `text` with their endings, one at a time, without copying the text."""
    for match in LINE.finditer(text):
        yield match.group()


def data_lines(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(record number, trimmed values) for each non-blank line; CR, LF and CRLF all end a line.

    Quoted values (with the delimiter or line ends inside) are understood when the delimiter is
    a comma. Lines are read one at a time from the text, so parsing needs no second copy of it.
    """
    number = 0
    if delimiter == ",":
        for values in csv.reader(raw_lines(text), delimiter=",", quotechar='"', strict=False):
            if not values or all(not v.strip() for v in values):
                continue
            number += 1
            yield number, [v.strip() for v in values]
        return
    for raw in raw_lines(text):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        number += 1
        yield number, [v.strip() for v in line.split(delimiter)]


def amount_of(raw: str, what: str = "amount") -> float:
    """`14,95`, `.75`, `0,50`, `2.00`, `50` -> float; a comma or a dot marks the decimals."""
    text = raw.strip()
    match = AMOUNT_PATTERN.match(text) if len(text) <= 32 else None
    if not text or not match or not (match.group(1) or match.group(2)):
        raise LineError(f"Invalid {what} '{raw}'")
    whole = match.group(1) or "0"
    decimals = match.group(2) or "0"
    value = float(f"{whole}.{decimals}")
    if not amount_ok(value):
        raise LineError(f"Invalid {what} '{raw}' (at most {MAX_AMOUNT:g})")
    return value


@lru_cache(maxsize=4096)
def iso_date(raw: str, what: str = "date") -> str:
    """YYYY-MM-DD (and the older docs' MM/DD/YYYY) -> YYYY-MM-DD; anything else is an error."""
    text = raw.strip()
    match = ISO_DATE.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = US_DATE.match(text)
        if not match:
            raise LineError(f"Invalid {what} '{raw}' (expected YYYY-MM-DD)")
        month, day, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise LineError(f"Invalid {what} '{raw}' (no such day)") from None


def strict_iso_date(raw: str, what: str) -> str:
    """Only YYYY-MM-DD (the docs refuse every other form for custom_date)."""
    text = raw.strip()
    match = ISO_DATE.match(text)
    if not match:
        raise LineError(f"Invalid {what} '{raw}' (expected YYYY-MM-DD)")
    year, month, day = (int(g) for g in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise LineError(f"Invalid {what} '{raw}' (no such day)") from None


def id_list(raw: str) -> list[str]:
    """`a,b, c` or `a|,|b|,|c` -> ["a", "b", "c"] (spaces trimmed, blanks dropped, order kept)."""
    parts = re.split(r"\|,\||,", raw)
    return list(dict.fromkeys(value for part in parts if (value := part.strip())))


@dataclass
class LineProblem:
    line: int
    message: str

    def render(self) -> dict[str, object]:
        return {"line": self.line, "message": self.message}


def read_rows(
    text: str, delimiter: str, columns: Mapping[int, str], width: int, field_name: str
) -> tuple[list[tuple[int, dict[str, str]]], list[LineProblem]]:
    """(line number, {field name: value}) per data line, and the lines with too many values.

    `columns` maps a column number (1-based) to its field; `width` is the highest header number.
    """
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[LineProblem] = []
    try:
        for line, values in data_lines(text, delimiter):
            if any(values[width:]):
                problems.append(LineProblem(line, f"{len(values)} values for {width} header(s)"))
                continue
            count = len(values)
            rows.append((line, {name: values[i - 1] for i, name in columns.items() if i <= count}))
    except csv.Error as exc:
        raise bad_request(f"Unreadable {field_name}: {exc}") from None
    return rows, problems


def line_error_mode(fields: Mapping[str, str]) -> str:
    """`on_line_error`: `skip` (default: import the good lines, list the bad) or `reject`."""
    raw = (fields.get("on_line_error") or "skip").strip().lower()
    if raw not in {"skip", "reject"}:
        raise bad_request(f"Invalid on_line_error '{raw}' (expected skip or reject)")
    return raw
