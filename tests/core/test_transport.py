"""Odd transports: a client gone mid-body, request ids of any length or alphabet."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS

PARTIAL = b'{"customerSession": {"profileId": "cust'


def call_with_disconnect(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Send the head and part of the body, then the client is gone; what the app sent."""
    messages = [
        {"type": "http.request", "body": PARTIAL, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"1000"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    client.portal.call(client.app, scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("method", "path", "api"),
    [
        ("PUT", "/v2/customer_sessions/gone-1", "talonone"),  # the fast lane
        ("POST", "/customers", "ecdp"),  # FastAPI's routing, with dependencies
        ("POST", "/v4.1/stream/transactional.json", "customergauge"),
        ("POST", "/__admin/faults", None),  # the admin API
    ],
)
def test_a_client_gone_mid_body_is_one_info_line(
    client: TestClient, caplog: pytest.LogCaptureFixture, method: str, path: str, api: str | None
) -> None:
    headers = DEFAULT_CREDENTIALS[api] if api else {}
    with caplog.at_level(logging.INFO, logger="simulator"):
        call_with_disconnect(client, method, path, headers)
    mine = [r for r in caplog.records if r.name.startswith("simulator")]
    assert [r.levelno for r in mine] == [logging.INFO], [r.getMessage() for r in mine]
    assert mine[0].exc_info is None
    assert "disconnected" in mine[0].getMessage()
    assert path in mine[0].getMessage()
    if api is not None:
        entry = client.get("/__admin/requests", params={"api": api}).json()["requests"][0]
        assert entry["path"] == path and entry["status"] == 499


TALON = DEFAULT_CREDENTIALS["talonone"]


def request_id_for(client: TestClient, value: bytes) -> str:
    response = client.get("/v2/customer_sessions/none", headers={**TALON, "X-Request-Id": value})
    return response.headers["x-request-id"]


@pytest.mark.parametrize("value", [b"r", b"req-42", b"!~" * 64, bytes(range(0x21, 0x7F))[:128]])
def test_a_visible_ascii_request_id_up_to_128_characters_is_echoed(
    client: TestClient, value: bytes
) -> None:
    assert request_id_for(client, value) == value.decode()


@pytest.mark.parametrize(
    "value",
    [b"x" * 129, b"x" * 5000, "café".encode(), "café".encode("latin-1"), b"a b", b"a\tb", b""],
)
def test_any_other_request_id_is_replaced_by_a_new_one(client: TestClient, value: bytes) -> None:
    made = request_id_for(client, value)
    assert len(made) == 32 and all(c in "0123456789abcdef" for c in made)
