"""The admin API's OpenAPI description: at /__admin/docs and /__admin/openapi.json, describing
the control plane (not the four APIs), and behind the admin token when one is set."""

from __future__ import annotations

from typing import Any

from fastapi.routing import iter_route_contexts

TOKEN = "docs-admin-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
DOC_PATHS = ("/__admin/docs", "/__admin/openapi.json")


def test_without_a_token_the_description_and_its_page_are_open(make_client: Any) -> None:
    client = make_client()
    for path in DOC_PATHS:
        assert client.get(path).status_code == 200, path
    page = client.get("/__admin/docs")
    assert "text/html" in page.headers["content-type"]
    assert "/__admin/openapi.json" in page.text


def test_with_a_token_both_need_it(make_client: Any) -> None:
    client = make_client(admin_token=TOKEN)
    for path in DOC_PATHS:
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert "missing" in refused.json()["error"]
        wrong = client.get(path, headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401, path
        assert client.get(path, headers=BEARER).status_code == 200, path


def test_it_describes_every_control_plane_route_and_nothing_else(make_client: Any) -> None:
    client = make_client()
    document = client.get("/__admin/openapi.json").json()
    described = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routes = {
        (method, route.path_format)
        for route in iter_route_contexts(client.app.routes)
        if route.path_format
        and route.path_format.startswith(("/__admin", "/metrics"))
        and route.path_format not in DOC_PATHS
        and getattr(route, "include_in_schema", True)  # the Inspector's pages are not API calls
        for method in (route.methods or ())
        if method != "HEAD"
    }
    assert described == routes
    assert ("POST", "/__admin/faults") in described
    assert ("GET", "/__admin/tenants/{tenant_id}/talonone/sessions") in described
    assert not [path for _, path in described if not path.startswith(("/__admin", "/metrics"))]


def test_it_declares_the_token_on_every_call_but_health(make_client: Any) -> None:
    document = make_client().get("/__admin/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["adminToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            expected = [] if path == "/__admin/health" else [{"adminToken": []}]
            assert operation["security"] == expected, (method, path)
    assert document["info"]["title"].endswith("admin API")
