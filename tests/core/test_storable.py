"""core/storable: what the store can hold, known in one place."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import BigInteger, Column, Integer, SmallInteger, String

from simulator.core.faults import FaultRule
from simulator.core.fixtures import FixtureError, check_storable
from simulator.core.models import Tenant
from simulator.core.storable import (
    INT32,
    INT64,
    JsonRefused,
    amount_ok,
    bad_text,
    find_bad_text,
    fits,
    lookup,
    parse_int,
    range_of,
    read_json,
)
from simulator.talonone.models.core import TalonCatalog


def test_the_range_is_the_columns_type_as_postgresql_has_it() -> None:
    assert range_of(Column("a", Integer)) == INT32
    assert range_of(Column("b", BigInteger)) == INT64
    assert range_of(Column("c", SmallInteger)).high == 2**15 - 1
    assert range_of(Tenant.cache_revision) == INT64  # a model's attribute
    assert fits(FaultRule.id, 2**31 - 1) and not fits(FaultRule.id, 2**31)
    assert fits(FaultRule.id, -(2**31)) and not fits(FaultRule.id, -(2**31) - 1)
    with pytest.raises(TypeError):
        range_of(Column("d", String))


def test_a_lookup_beyond_the_column_finds_nothing_without_asking_the_store() -> None:
    class NoStore:
        def get(self, model, key):  # would fail on PostgreSQL for an out-of-range key
            raise AssertionError("asked the store")

    assert lookup(NoStore(), TalonCatalog, ("default", 2**31)) is None
    assert lookup(NoStore(), TalonCatalog, ("default", -(2**63) - 1)) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("-7", -7), ("2147483648", 2**31), ("1_000", None), (" 1", None), ("+1", None)]
    + [("²", None), ("٣", None), ("1e3", None), ("", None), ("-", None), ("1" * 41, None)],
)
def test_integers_are_ascii_digits(text: str, value: int | None) -> None:
    assert parse_int(text) == value


def test_text_without_nul_or_lone_surrogates() -> None:
    assert bad_text("ok ü 😀") is None
    assert "NUL" in bad_text("a\x00")
    assert "surrogate" in bad_text("\ud800")
    assert find_bad_text({"a": [1, {"b\x00": 2}]}) == ("/a/1/b\x00", "a NUL character (U+0000)")
    assert find_bad_text({"x/y": ["\udfff"]})[0] == "/x~1y/0"


def test_amounts_are_finite_and_bounded() -> None:
    assert amount_ok(1e15) and amount_ok(-1e15) and amount_ok(0)
    for bad in (1e15 + 1, math.inf, -math.inf, math.nan, True, "1"):
        assert not amount_ok(bad)


@pytest.mark.parametrize(
    ("raw", "pointer"),
    [
        (b"NaN", ""),
        (b'{"a": Infinity}', ""),
        (b"[" * 5000 + b"]" * 5000, ""),
        (b"\xff", ""),
        (b'{"a": ["x", "\\u0000"]}', "/a/1"),
        (b'{"a": "\\ud800"}', "/a"),
        (b'{"\\udc00": 1}', "/\\udc00"),
    ],
)
def test_json_bodies_are_read_strictly(raw: bytes, pointer: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        read_json(raw)
    assert refused.value.pointer == pointer


def test_json_integers_beyond_64_bits_are_numbers() -> None:
    assert read_json(b"[9223372036854775807]") == [2**63 - 1]
    assert read_json(b'{"q": 1' + b"0" * 30 + b"}") == {"q": 1e30}
    assert read_json(b"[1" + b"0" * 400 + b"]") == [math.inf]
    assert read_json(b'"\\u00e9 ok"') == "é ok"


def test_fixture_documents_hold_only_storable_text_and_numbers() -> None:
    document = {"a": [True, None, 1, 2.5, "x", {"b": False}], "c": -1e15}
    check_storable(document, "inline")
    for bad, where in (
        ({"a": [1, math.nan]}, "a[1]"),
        ({"a": {"b": 1e16}}, "a.b"),
        ({"a": "\x00"}, "a"),
    ):
        with pytest.raises(FixtureError) as refused:
            check_storable(bad, "inline")
        assert refused.value.path == where
