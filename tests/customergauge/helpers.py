"""Helpers shared by the CustomerGauge tests."""

from __future__ import annotations

from typing import Any

import xmltodict
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["customergauge"]
STREAM = "/v4.1/stream/transactional.json"
ADMIN = "/__admin/tenants/{tenant}/customergauge"


def record_xml(**fields: str) -> str:
    return "<record>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</record>"


def records_xml(*records: dict[str, str]) -> str:
    body = "".join(record_xml(**r) for r in records)
    return f"<?xml version='1.0' encoding='utf-8'?><records>{body}</records>"


def upload(
    client: TestClient,
    *records: dict[str, str],
    path: str = STREAM,
    headers: dict[str, str] | None = None,
) -> Response:
    return client.post(
        path,
        content=records_xml(*records).encode(),
        headers={**AUTH, "Content-Type": "application/xml", **(headers or {})},
    )


def post_raw(
    client: TestClient,
    body: bytes | str,
    content_type: str | None = "application/xml",
    path: str = STREAM,
    auth: dict[str, str] = AUTH,
) -> Response:
    headers = dict(auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(
        path, content=body if isinstance(body, bytes) else body.encode(), headers=headers
    )


def error_of(response: Response) -> dict[str, Any]:
    """The native error body, from JSON or XML alike."""
    if response.headers["content-type"].startswith("application/xml"):
        error = xmltodict.parse(response.text)["Error"]
        return {"Message": error["Message"], "Code": int(error["Code"])}
    body = response.json()
    assert set(body) == {"Error"}, body
    return body["Error"]


def process(client: TestClient, tenant: str = "default") -> dict[str, Any]:
    response = client.post(ADMIN.format(tenant=tenant) + "/process")
    assert response.status_code == 200, response.text
    return response.json()


def mails(client: TestClient, tenant: str = "default", **filters: Any) -> list[dict[str, Any]]:
    response = client.get(ADMIN.format(tenant=tenant) + "/mail-queue", params=filters)
    assert response.status_code == 200, response.text
    return response.json()["mails"]


def uploads(client: TestClient, tenant: str = "default", **filters: Any) -> list[dict[str, Any]]:
    response = client.get(ADMIN.format(tenant=tenant) + "/uploads", params=filters)
    assert response.status_code == 200, response.text
    return response.json()["uploads"]


def file_status(client: TestClient, auth: dict[str, str] = AUTH, **params: Any) -> list[dict]:
    response = client.get("/v4.1/file/transactional.json", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()["Data"]


def set_clock(client: TestClient, now: str, tenant: str = "default") -> None:
    response = client.put(f"/__admin/tenants/{tenant}/clock", json={"now": now, "frozen": True})
    assert response.status_code == 200, response.text
