"""A tenant's fault rule reaches every request of that tenant, whichever way the request
authenticates, because faults ask each API's own auth (its `tenant_of` hook) who the caller is.
The journal entry of a request the fault answered names its tenant and its operation."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

Send = Callable[[TestClient, dict], Any]


def token_of(client: TestClient, tenant: dict) -> str:
    fields = oauth_client(tenant)
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials", **fields})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def oauth_client(tenant: dict) -> dict[str, str]:
    """The default fixtures give each tenant one OAuth2 client named after it."""
    return {"client_id": f"cg-client-{tenant['id']}", "client_secret": f"cg-secret-{tenant['id']}"}


def ct_fields(tenant: dict, key_field: str | None = "user_api_key") -> dict[str, str]:
    creds = tenant["credentials"]["clienttoolbox"]
    fields = {"API": "1.5", "user_id": creds["user_id"], "account_id": creds["account_id"]}
    if key_field is not None:
        fields[key_field] = creds["user_api_key"]
    fields["type"] = "campaigns_list"
    return fields


def cg_api_key(client: TestClient, tenant: dict) -> Any:
    key = tenant["credentials"]["customergauge"]["api_key"]
    return client.get("/v4.1/lists/bounce.json", headers={"Authorization": f"api_key {key}"})


def cg_bearer(client: TestClient, tenant: dict) -> Any:
    token = tenant["token"]  # fetched before any rule is added (token_of_both)
    return client.get("/v4.1/lists/bounce.json", headers={"Authorization": f"Bearer {token}"})


def cg_token_basic(client: TestClient, tenant: dict) -> Any:
    fields = oauth_client(tenant)
    basic = base64.b64encode(f"{fields['client_id']}:{fields['client_secret']}".encode()).decode()
    return client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )


def cg_token_form(client: TestClient, tenant: dict) -> Any:
    return client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", **oauth_client(tenant)}
    )


def ct_header(client: TestClient, tenant: dict) -> Any:
    key = tenant["credentials"]["clienttoolbox"]["user_api_key"]
    return client.post("/api.php", data=ct_fields(tenant, None), headers={"api_access_key": key})


def ct_form_key(client: TestClient, tenant: dict) -> Any:
    return client.post("/", data=ct_fields(tenant))


def ct_form_password(client: TestClient, tenant: dict) -> Any:
    return client.post("/", data=ct_fields(tenant, "user_password"))


def ct_query_key(client: TestClient, tenant: dict) -> Any:
    return client.get("/api.php", params=ct_fields(tenant))


def ct_multipart_key(client: TestClient, tenant: dict) -> Any:
    return client.post("/", files={k: (None, v) for k, v in ct_fields(tenant).items()})


def talon_key(client: TestClient, tenant: dict) -> Any:
    key = tenant["credentials"]["talonone"]["api_key"]
    return client.get("/v2/customer_sessions/s-1", headers={"Authorization": f"ApiKey-v1 {key}"})


def ecdp_key(client: TestClient, tenant: dict) -> Any:
    key = tenant["credentials"]["ecdp"]["api_key"]
    return client.get("/customers/id/1", headers={"x-api-key": key})


FORMS: dict[str, tuple[str, str, Send]] = {
    "customergauge api_key": ("customergauge", "GetBounce", cg_api_key),
    "customergauge bearer": ("customergauge", "GetBounce", cg_bearer),
    "customergauge token, basic": ("customergauge", "OAuth2Token", cg_token_basic),
    "customergauge token, form": ("customergauge", "OAuth2Token", cg_token_form),
    "clienttoolbox api_access_key header": ("clienttoolbox", "campaigns_list", ct_header),
    "clienttoolbox user_api_key field": ("clienttoolbox", "campaigns_list", ct_form_key),
    "clienttoolbox user_password field": ("clienttoolbox", "campaigns_list", ct_form_password),
    "clienttoolbox query": ("clienttoolbox", "campaigns_list", ct_query_key),
    "clienttoolbox multipart": ("clienttoolbox", "campaigns_list", ct_multipart_key),
    "talonone ApiKey-v1": ("talonone", "GetCustomerSession", talon_key),
    "ecdp x-api-key": ("ecdp", "GetCustomerById", ecdp_key),
}


def token_of_both(client: TestClient, *tenants: dict) -> None:
    """Bearer tokens are fetched before the rule exists (the token call is the tenant's too)."""
    for tenant in tenants:
        tenant["token"] = token_of(client, tenant)


def journal(client: TestClient, **filters: Any) -> list[dict]:
    time.sleep(0.15)  # flushed a few times a second
    response = client.get("/__admin/requests", params=filters)
    assert response.status_code == 200, response.text
    return response.json()["requests"]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_tenant_fault_fires_for_every_credential_form(
    client: TestClient, new_tenant, form: str
) -> None:
    api, operation, send = FORMS[form]
    mine, other = new_tenant(), new_tenant()
    if send is cg_bearer:
        token_of_both(client, mine, other)
    response = client.post("/__admin/faults", json={"tenant": mine["id"], "api": api, "error": 503})
    assert response.status_code == 201, response.text
    rule_id = str(response.json()["faults"][0]["id"])
    assert send(client, other).status_code < 500  # another tenant's request is left alone
    answered = send(client, mine)
    assert answered.status_code == 503, answered.text
    (entry,) = [e for e in journal(client, tenant=mine["id"]) if e["fault"] == rule_id]
    assert (entry["api"], entry["operation"], entry["status"]) == (api, operation, 503)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_an_operation_rule_of_a_tenant_fires_for_every_credential_form(
    client: TestClient, new_tenant, form: str
) -> None:
    """The rule names the operation as the journal does; the tenant comes from the credential."""
    api, operation, send = FORMS[form]
    mine = new_tenant()
    if send is cg_bearer:
        token_of_both(client, mine)
    rule = {"tenant": mine["id"], "api": api, "operation": operation, "error": 502}
    assert client.post("/__admin/faults", json=rule).status_code == 201
    assert send(client, mine).status_code == 502
