"""Tenancy: credentials select a tenant; each API answers a bad credential in its own shape."""

from __future__ import annotations

import xmltodict
from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS
from tests.core.routers import router


def with_test_routes(client: TestClient) -> TestClient:
    # Put the test routes first so they win over any real route on the same path.
    client.app.router.routes[:0] = router.routes
    return client


def test_default_tenant_resolves_for_each_api(client: TestClient) -> None:
    with_test_routes(client)
    cg = client.get("/v4.1/test/whoami.json", headers=DEFAULT_CREDENTIALS["customergauge"])
    talon = client.get("/v1/test/whoami", headers=DEFAULT_CREDENTIALS["talonone"])
    ecdp = client.get("/customers/test/whoami", headers=DEFAULT_CREDENTIALS["ecdp"])
    ct = client.post("/api.php", data=DEFAULT_CREDENTIALS["clienttoolbox"])
    for response in (cg, talon, ecdp, ct):
        assert response.status_code == 200, response.text
        assert response.json()["tenant"] == "default"


def test_customergauge_invalid_key_json_and_xml(client: TestClient) -> None:
    with_test_routes(client)
    bad = {"Authorization": "api_key nope"}
    response = client.get("/v4.1/test/whoami.json", headers=bad)
    assert response.status_code == 401
    assert response.json() == {"Error": {"Message": "Invalid API Key", "Code": 200000}}
    response = client.get("/v4.1/test/whoami.xml", headers=bad)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/xml")
    assert xmltodict.parse(response.text) == {
        "Error": {"Message": "Invalid API Key", "Code": "200000"}
    }
    # No header at all is the same error.
    assert client.get("/v4.1/test/whoami.json").json()["Error"]["Code"] == 200000


def test_clienttoolbox_bad_credentials_xml_and_json(client: TestClient) -> None:
    with_test_routes(client)
    fields = {**DEFAULT_CREDENTIALS["clienttoolbox"], "user_api_key": "wrong"}
    response = client.post("/api.php", data=fields)
    assert response.status_code == 401
    parsed = xmltodict.parse(response.text)
    assert parsed["response"]["@status"] == "error"
    assert parsed["response"]["error"]
    response = client.post("/api.php", data={**fields, "output": "JSON"})
    assert response.json()["status"] == "error"
    assert "error" in response.json()
    response = client.post("/api.php", data={**fields, "callback": "handle"})
    assert response.text.startswith("handle(")
    # A wrong account_id with good keys is refused too.
    fields = {**DEFAULT_CREDENTIALS["clienttoolbox"], "account_id": "someone-else"}
    assert client.post("/api.php", data=fields).status_code == 401


def test_clienttoolbox_header_key_wins_over_body(client: TestClient) -> None:
    with_test_routes(client)
    fields = {**DEFAULT_CREDENTIALS["clienttoolbox"], "user_api_key": "wrong", "output": "JSON"}
    response = client.post("/api.php", data=fields, headers={"api_access_key": "ct-sandbox-key"})
    assert response.status_code == 200
    fields = {**DEFAULT_CREDENTIALS["clienttoolbox"], "output": "JSON"}
    response = client.post("/api.php", data=fields, headers={"api_access_key": "wrong"})
    assert response.status_code == 401


def test_talonone_invalid_key_shape(client: TestClient) -> None:
    with_test_routes(client)
    response = client.get("/v1/test/whoami", headers={"Authorization": "ApiKey-v1 nope"})
    assert response.status_code == 401
    body = response.json()
    assert body["StatusCode"] == 401
    assert isinstance(body["message"], str)
    assert body["errors"][0]["title"]
    assert isinstance(body["errors"][0]["source"], dict)
    # The Management API's scheme is not accepted on the Integration API.
    wrong_scheme = {"Authorization": "ManagementKey-v1 talon-sandbox-key"}
    assert client.get("/v1/test/whoami", headers=wrong_scheme).status_code == 401


def test_ecdp_invalid_key_is_problem_json(client: TestClient) -> None:
    with_test_routes(client)
    response = client.get("/customers/test/whoami", headers={"x-api-key": "nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 401
    assert {"type", "title", "detail", "instance"} <= body.keys()


def test_new_tenant_has_fresh_credentials_and_is_isolated(client: TestClient, new_tenant) -> None:
    with_test_routes(client)
    tenant = new_tenant()
    creds = tenant["credentials"]
    assert set(creds) == {"customergauge", "clienttoolbox", "talonone", "ecdp"}
    assert set(creds["clienttoolbox"]) == {"user_id", "user_api_key", "account_id"}
    assert creds["talonone"]["api_key"] != "talon-sandbox-key"
    headers = {"Authorization": f"ApiKey-v1 {creds['talonone']['api_key']}"}
    assert client.get("/v1/test/whoami", headers=headers).json()["tenant"] == tenant["id"]
    # Writes through tenant A's key are invisible to tenant B.
    a = client.post("/v1/test/counter", headers=headers).json()["value"]
    a2 = client.post("/v1/test/counter", headers=headers).json()["value"]
    b = client.post("/v1/test/counter", headers=DEFAULT_CREDENTIALS["talonone"]).json()["value"]
    assert (a, a2, b) == (1, 2, 1)


def test_tenant_get_list_delete(client: TestClient, new_tenant) -> None:
    with_test_routes(client)
    tenant = new_tenant(name="team-a")
    assert client.get(f"/__admin/tenants/{tenant['id']}").json()["name"] == "team-a"
    ids = [t["id"] for t in client.get("/__admin/tenants").json()["tenants"]]
    assert "default" in ids and tenant["id"] in ids
    key = tenant["credentials"]["talonone"]["api_key"]
    assert client.delete(f"/__admin/tenants/{tenant['id']}").status_code == 204
    assert client.get(f"/__admin/tenants/{tenant['id']}").status_code == 404
    response = client.get("/v1/test/whoami", headers={"Authorization": f"ApiKey-v1 {key}"})
    assert response.status_code == 401


def test_unknown_tenant_is_404_json(client: TestClient) -> None:
    response = client.get("/__admin/tenants/nobody")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_admin_token_protects_admin_calls(make_client) -> None:
    client = make_client(admin_token="s3cret")
    assert client.get("/__admin/health").status_code == 200
    assert client.get("/__admin/tenants").status_code == 401
    assert client.post("/__admin/tenants", json={}).status_code == 401
    ok = client.get("/__admin/tenants", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_open_signup_allows_tenant_creation_without_token(make_client) -> None:
    client = make_client(admin_token="s3cret", open_signup=True)
    assert client.post("/__admin/tenants", json={"name": "self"}).status_code == 201
    assert client.get("/__admin/tenants").status_code == 401


def test_unexpected_error_is_rendered_in_the_api_shape(client: TestClient) -> None:
    with_test_routes(client)
    response = client.get("/v1/test/boom", headers=DEFAULT_CREDENTIALS["talonone"])
    assert response.status_code == 500
    assert response.json()["StatusCode"] == 500
    assert "detail" not in response.json()


def test_unknown_api_paths_never_answer_fastapi_detail(client: TestClient) -> None:
    for path in ("/v1/nothing/here", "/v4.1/nothing/here.json", "/customers/x/y/z"):
        response = client.get(path)
        assert response.status_code in (401, 404, 405), (path, response.status_code)
        assert set(response.json()) != {"detail"}, path  # never FastAPI's default shape


def test_body_over_the_ceiling_is_refused_in_the_api_shape(make_client) -> None:
    client = make_client(max_body_bytes=1000)
    response = client.post(
        "/v1/customer_sessions/s1", content=b"x" * 5000, headers=DEFAULT_CREDENTIALS["talonone"]
    )
    assert response.status_code == 413
    assert response.json()["StatusCode"] == 413
