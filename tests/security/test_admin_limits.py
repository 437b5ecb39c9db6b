"""The admin API gets the APIs' protection: the body ceiling (413) and a nesting limit (400), in
the admin error shape, before any handler parses the body; never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.core.nesting import MAX_JSON_NESTING, json_deeper_than
from tests.security.conftest import BEARER, TOKEN, store_snapshot

POINTS = "/__admin/tenants/default/talonone/loyalty/programs/1/points"
JSON = {"content-type": "application/json"}


def nested(levels: int, inner: bytes = b"1") -> bytes:
    return b"[" * levels + inner + b"]" * levels


def nested_objects(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/__admin/faults"),
        ("POST", POINTS),
        ("POST", "/__admin/tenants"),
        ("PUT", "/__admin/tenants/default/clock"),
        ("PUT", "/__admin/tenants/default/quotas"),
        ("POST", "/__admin/tenants/default/customergauge/bounces"),
    ],
)
@pytest.mark.parametrize("body", [nested(100_000), nested_objects(100_000), nested(1_000)])
def test_deeply_nested_json_is_a_400(client: Any, method: str, path: str, body: bytes) -> None:
    before = store_snapshot(client.app.state.engine)
    response = client.request(method, path, content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {
        "error": f"JSON nested deeper than {MAX_JSON_NESTING} levels",
        "status": 400,
    }
    assert store_snapshot(client.app.state.engine) == before


def test_nesting_inside_an_inline_fixture_document_is_counted(client: Any) -> None:
    document = b'{"fixtures": {"tenant": {"name": ' + nested(80, b'"x"') + b"}}}"
    response = client.post("/__admin/tenants", content=document, headers=JSON)
    assert response.status_code == 400
    assert "nested deeper" in response.json()["error"]


def test_nesting_up_to_the_limit_reaches_the_handler(client: Any) -> None:
    # Deep but allowed: the fault handler answers for itself (a rule it refuses).
    body = b'{"api": "talonone", "error": 503, "headers": ' + nested(MAX_JSON_NESTING - 1) + b"}"
    response = client.post("/__admin/faults", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "fault rule refused"


def test_brackets_inside_strings_are_not_nesting(client: Any) -> None:
    name = "[" * 500 + "{" * 500
    response = client.post("/__admin/tenants", json={"name": name[:200], "fixtures": "empty"})
    assert response.status_code == 201
    assert response.json()["name"] == name[:200]


def test_a_body_over_the_ceiling_is_a_413(make_client: Any) -> None:
    client = make_client(max_body_bytes=1_000)
    before = store_snapshot(client.app.state.engine)
    rule = {"api": "talonone", "error": 503, "message": "x" * 2_000}
    for path in ("/__admin/faults", "/__admin/tenants", POINTS):
        response = client.post(path, json=rule)
        assert response.status_code == 413, path
        assert response.json() == {"error": "request body larger than 1000 bytes", "status": 413}
    # Sent in chunks without a Content-Length: counted while it is read.
    chunks = (b'{"message": "' + b"x" * 600 + b'"}' for _ in range(3))
    response = client.post("/__admin/faults", content=chunks, headers=JSON)
    assert response.status_code == 413
    assert store_snapshot(client.app.state.engine) == before
    # Under the ceiling all is as before.
    assert client.post("/__admin/faults", json={"api": "ecdp", "error": 503}).status_code == 201


def test_the_ceiling_is_checked_after_the_token(make_client: Any) -> None:
    client = make_client(max_body_bytes=1_000, admin_token=TOKEN)
    assert client.post("/__admin/faults", content=b"x" * 5_000).status_code == 401
    assert client.post("/__admin/faults", content=b"x" * 5_000, headers=BEARER).status_code == 413


def test_json_deeper_than() -> None:
    assert not json_deeper_than(nested(64), 64)
    assert json_deeper_than(nested(65), 64)
    assert json_deeper_than(b"[" * 100_000, 64)  # unclosed: refused all the same
    assert not json_deeper_than(b'["' + b"[" * 1_000 + b'"]', 64)
    assert not json_deeper_than(b"not json [[[[", 2)
    assert not json_deeper_than(b"", 2)
