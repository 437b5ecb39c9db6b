"""Hostile requests to every operation of the four APIs (issue 19): ids huge, negative, with NUL,
unicode, `../` or odd percent-encoding; bodies with NaN, Infinity, 1e308, deep nesting, wrong
types, nothing or 10 MB; odd headers. Whatever is sent: never a 5xx, always the error shape of
the API owning the path, the server healthy afterwards and every request in the journal
(checked by the `requests_of` fixture after each test)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from tests.fuzz.conftest import FUZZ, Session
from tests.fuzz.hostile import (
    DEEP_NESTING,
    LARGE_BODY_BYTES,
    Probe,
    issue_probes,
    probe_strategy,
    with_body,
    with_path_value,
    with_query_value,
)
from tests.fuzz.surface import API_OPERATIONS, Operation

APIS = list(API_OPERATIONS)


@pytest.mark.parametrize("api", APIS)
def test_hostile_requests(api: str, requests_of: Session) -> None:
    @FUZZ
    @given(probe=probe_strategy(API_OPERATIONS[api]))
    def attack(probe: Probe) -> None:
        requests_of.check(probe)

    attack()


@pytest.mark.parametrize("api", APIS)
def test_issue_categories_in_every_slot(api: str, requests_of: Session) -> None:
    """Integer range, NUL, non-finite and overflowing numbers (issue 19 items 3-5) in every
    path parameter, query parameter and body value of every operation: no draw of chance."""
    for operation in API_OPERATIONS[api]:
        for probe in issue_probes(operation):
            requests_of.check(probe)


@pytest.mark.parametrize("api", APIS)
def test_nul_in_path_or_query_is_a_native_400(api: str, requests_of: Session) -> None:
    for probe in nul_probes(api):
        response = requests_of.check(probe)
        assert response.status_code in (400, 404, 405), probe.describe()
        if response.status_code == 400:
            assert "NUL" in response.text


def nul_probes(api: str) -> list[Probe]:
    probes = []
    for operation in API_OPERATIONS[api]:
        for name in operation.path_values:
            probes.append(with_path_value(operation, name, "a\x00b", "nul"))
        for name in [*operation.query, "id"]:
            probes.append(with_query_value(operation, name, "\x00", "nul"))
    return probes


def large_body(operation: Operation) -> bytes:
    """About 10 MB, in the operation's own format, the bulk in one value."""
    bulk = "x" * LARGE_BODY_BYTES
    if operation.kind == "json":
        return json.dumps({"padding": bulk, "body": operation.body}).encode()
    if operation.kind == "form":
        return f"{next(iter(operation.body))}={bulk}".encode()
    return f"<records><record><Email>{bulk}</Email></record></records>".encode()


@pytest.mark.parametrize("api", APIS)
def test_deep_nesting_and_large_bodies(api: str, requests_of: Session) -> None:
    """100,000 levels of nesting and a 10 MB body to each operation that takes a body."""
    for operation in API_OPERATIONS[api]:
        if operation.kind is None:
            continue
        requests_of.check(with_body(operation, DEEP_NESTING, "nesting"))
    first = next(op for op in API_OPERATIONS[api] if op.kind is not None)
    response = requests_of.check(with_body(first, large_body(first), "size"))
    assert 400 <= response.status_code < 500
