"""Helpers shared by the ECDP tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS

KEY = DEFAULT_CREDENTIALS["ecdp"]


def post(client: TestClient, mode: str, match_by: str, *items: dict, headers: dict | None = None):
    body = {"mode": mode, "matchBy": match_by, "data": list(items)}
    return client.post("/customers", json=body, headers=headers or KEY)


def get(client: TestClient, kind: str, value: Any, headers: dict | None = None):
    return client.get(f"/customers/{kind}/{value}", headers=headers or KEY)


def customer(client: TestClient, kind: str, value: Any, headers: dict | None = None) -> dict:
    response = get(client, kind, value, headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def problem(response: Any, status: int) -> dict:
    """Assert an RFC 7807 problem+json answer and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    for key in ("type", "title", "detail", "instance"):
        assert isinstance(body[key], str) and body[key], key
    return body


def errors(response: Any) -> dict[str, list[str]]:
    """The documented `errors` list (`"data[3].email: message"`) read back as path -> messages."""
    body = problem(response, 400)
    assert body["title"] == "One or more validation errors occurred."
    assert isinstance(body["errors"], list) and body["errors"]
    found: dict[str, list[str]] = {}
    for entry in body["errors"]:
        assert isinstance(entry, str)
        path, separator, message = entry.partition(": ")
        assert separator and message, entry
        found.setdefault(path, []).append(message)
    return found
