"""POST /oauth2/token (client credentials) and `Authorization: Bearer` on the 4.1 paths."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from tests.customergauge.helpers import error_of, file_status, upload

TOKEN = "/oauth2/token"
DEFAULT_CLIENT = {"client_id": "cg-client-default", "client_secret": "cg-secret-default"}


def get_token(client: TestClient, **fields: str) -> dict:
    response = client.post(TOKEN, data={"grant_type": "client_credentials", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_client_credentials_give_a_bearer_token_for_the_tenant(client: TestClient) -> None:
    body = get_token(client, **DEFAULT_CLIENT)
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    response = upload(client, {"Email": "oauth@example.com"}, headers=bearer)
    assert response.json() == {"Data": True}
    assert [s["id"] for s in file_status(client, auth=bearer)] == ["1"]
    # The scheme word is matched case-insensitively.
    lower = {"Authorization": f"bearer {body['access_token']}"}
    assert file_status(client, auth=lower)[0]["id"] == "1"


def test_http_basic_client_authentication(client: TestClient) -> None:
    basic = base64.b64encode(b"cg-client-default:cg-secret-default").decode()
    response = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    wrong = base64.b64encode(b"cg-client-default:nope").decode()
    response = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_tokens_expire_on_the_tenant_clock(client: TestClient) -> None:
    client.put(
        "/__admin/tenants/default/clock", json={"now": "2026-06-01T00:00:00Z", "frozen": True}
    )
    bearer = {"Authorization": f"Bearer {get_token(client, **DEFAULT_CLIENT)['access_token']}"}
    client.post("/__admin/tenants/default/clock/advance", json={"seconds": 3599})
    assert client.get("/v4.1/lists/bounce.json", headers=bearer).status_code == 200
    client.post("/__admin/tenants/default/clock/advance", json={"seconds": 1})
    response = client.get("/v4.1/lists/bounce.json", headers=bearer)
    assert response.status_code == 401
    assert error_of(response) == {"Message": "Invalid API Key", "Code": 200000}


def test_token_endpoint_errors(client: TestClient) -> None:
    cases = [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "cg-client-default",
                "client_secret": "wrong",
            },
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, 400, "invalid_request"),
        (
            {"client_id": "cg-client-default", "client_secret": "cg-secret-default"},
            400,
            "invalid_request",
        ),
        ({"grant_type": "password", **DEFAULT_CLIENT}, 400, "unsupported_grant_type"),
    ]
    for data, status, error in cases:
        response = client.post(TOKEN, data=data)
        assert response.status_code == status, (data, response.text)
        assert response.json()["error"] == error
        assert "error_description" in response.json()
    response = client.post(
        TOKEN, content=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_each_tenant_has_its_own_client(client: TestClient, new_tenant) -> None:
    tenant = new_tenant()
    token = get_token(
        client, client_id=f"cg-client-{tenant['id']}", client_secret=f"cg-secret-{tenant['id']}"
    )["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    upload(client, {"Email": "t@example.com"}, headers=bearer)
    assert len(file_status(client, auth=bearer)) == 1
    assert file_status(client) == []  # nothing landed in the default tenant
