"""The control plane behind the admin token: every route that is not one of the four APIs' is
enumerated from the app and refused without the token, whatever wrong credential is tried, and
the refusal leaves the store as it was. Only `GET /__admin/health` is open."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import (
    BAD_CREDENTIALS,
    BEARER,
    TOKEN,
    RouteCall,
    control_plane_calls,
    is_open,
    store_snapshot,
)


def send(client: Any, call: RouteCall, headers: dict, params: dict | None = None) -> Any:
    return client.request(
        call.method, call.path, headers=headers, params=params or {}, json=call.body
    )


def test_the_enumeration_finds_the_whole_control_plane(guarded_client: Any) -> None:
    templates = {call.template for call in control_plane_calls(guarded_client.app)}
    # A sample of what must be there: if the enumeration broke, the tests below test nothing.
    assert {
        "/__admin/health",
        "/__admin/tenants",
        "/__admin/faults",
        "/metrics",
        "/__admin/tenants/{tenant_id}/talonone/loyalty/programs/{program_id}/points",
    } <= templates
    assert len(templates) >= 30


def test_every_control_plane_route_refuses_every_bad_credential(guarded_client: Any) -> None:
    engine = guarded_client.app.state.engine
    before = store_snapshot(engine)
    failures = []
    for call in control_plane_calls(guarded_client.app):
        if is_open(call):
            continue
        for bad in BAD_CREDENTIALS:
            response = send(guarded_client, call, bad.headers, bad.params)
            if response.status_code != 401:
                failures.append(f"{call} with {bad.label}: {response.status_code}")
            elif response.json() != {"error": response.json()["error"], "status": 401} or (
                f"admin token {bad.kind}" not in response.json()["error"]
            ):
                failures.append(f"{call} with {bad.label}: body {response.text}")
    assert failures == []
    assert store_snapshot(engine) == before  # nothing refused left a trace


def test_every_control_plane_route_answers_the_token(guarded_client: Any) -> None:
    failures = []
    for call in control_plane_calls(guarded_client.app):
        if call.method == "DELETE" and "{tenant_id}" in call.template:
            continue  # deleting `default` would change what the other calls see
        response = send(guarded_client, call, BEARER)
        if response.status_code in (401, 403) or response.status_code >= 500:
            failures.append(f"{call}: {response.status_code} {response.text[:200]}")
    assert failures == []


def test_health_is_open_and_nothing_else(guarded_client: Any) -> None:
    assert guarded_client.get("/__admin/health").status_code == 200
    assert guarded_client.post("/__admin/health").status_code == 401
    # Paths that are no route at all give nothing away either: 401, not 404.
    for path in ("/__admin", "/__admin/", "/__admin/nothing", "/__admin/health/../tenants"):
        assert guarded_client.get(path).status_code == 401, path


@pytest.mark.parametrize("path", ["/__admin/openapi.json", "/__admin/docs", "/metrics"])
def test_route_table_docs_and_metrics_need_the_token(guarded_client: Any, path: str) -> None:
    assert guarded_client.get(path).status_code == 401
    assert guarded_client.get(path, headers=BEARER).status_code == 200


def test_swagger_oauth2_redirect_page_is_not_served(guarded_client: Any) -> None:
    for path in ("/docs/oauth2-redirect", "/__admin/docs/oauth2-redirect"):
        assert guarded_client.get(path, headers=BEARER).status_code == 404, path


def test_missing_and_invalid_are_told_apart(guarded_client: Any) -> None:
    missing = guarded_client.get("/__admin/tenants")
    assert missing.status_code == 401
    assert "missing" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    invalid = guarded_client.get("/__admin/tenants", headers={"Authorization": "Bearer nope"})
    assert invalid.status_code == 401
    assert "invalid" in invalid.json()["error"]
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]


def test_a_token_that_is_not_ascii_is_refused_not_a_crash(guarded_client: Any) -> None:
    for raw in (b"Bearer \xe9\xe9", b"Bearer " + TOKEN.encode() + b"\xff", b"\xff\xfe"):
        response = guarded_client.get("/__admin/tenants", headers={"Authorization": raw})
        assert response.status_code == 401, raw


def test_scheme_is_case_insensitive_and_spaces_around_the_token_are_ignored(
    guarded_client: Any,
) -> None:
    for value in (f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}  "):
        response = guarded_client.get("/__admin/tenants", headers={"Authorization": value})
        assert response.status_code == 200, value


def test_two_authorization_headers_are_refused(guarded_client: Any) -> None:
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer wrong")]
    assert guarded_client.get("/__admin/tenants", headers=headers).status_code == 401


def test_without_a_token_configured_the_admin_api_is_open(client: Any) -> None:
    assert client.get("/__admin/tenants").status_code == 200
    assert client.get("/__admin/openapi.json").status_code == 200


def test_signup_stays_closed_without_open_signup(guarded_client: Any) -> None:
    response = guarded_client.post("/__admin/tenants", json={"name": "self"})
    assert response.status_code == 401
    assert guarded_client.post("/__admin/tenants", json={}, headers=BEARER).status_code == 201


def test_open_signup_opens_tenant_creation_and_nothing_else(make_client: Any) -> None:
    client = make_client(admin_token=TOKEN, open_signup=True)
    engine = client.app.state.engine
    created = client.post("/__admin/tenants", json={"name": "self"})
    assert created.status_code == 201
    before = store_snapshot(engine)
    # A credential that is sent is checked, even where none is needed.
    for bad in BAD_CREDENTIALS:
        if bad.kind == "missing":
            continue
        response = client.post("/__admin/tenants", json={"name": bad.label}, headers=bad.headers)
        assert response.status_code == 401, bad.label
    for call in control_plane_calls(client.app):
        if is_open(call) or (call.method, call.template) == ("POST", "/__admin/tenants"):
            continue
        assert send(client, call, {}).status_code == 401, str(call)
    assert store_snapshot(engine) == before
