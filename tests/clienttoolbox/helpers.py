"""Helpers of the ClientToolbox tests: post form fields, read the XML/JSON envelope."""

from __future__ import annotations

from typing import Any

import xmltodict

from tests.conftest import DEFAULT_CREDENTIALS

CREDENTIALS = DEFAULT_CREDENTIALS["clienttoolbox"]


def post(http: Any, path: str = "/", credentials: dict | None = None, **fields: Any) -> Any:
    data = {**(CREDENTIALS if credentials is None else credentials), **fields}
    return http.post(path, data={k: str(v) for k, v in data.items()})


def xml(response: Any) -> dict[str, Any]:
    """The `<response>` element as a dict (xmltodict conventions: `@status`)."""
    assert response.headers["content-type"].startswith("application/xml"), response.text
    return xmltodict.parse(response.text)["response"]


def as_json(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()


def tenant_credentials(tenant: dict) -> dict[str, str]:
    return {"API": "1.5", **tenant["credentials"]["clienttoolbox"]}


def customer(http: Any, code: str, tenant_id: str = "default") -> dict[str, Any]:
    response = http.get(f"/__admin/tenants/{tenant_id}/clienttoolbox/customers/{code}")
    assert response.status_code == 200, response.text
    return response.json()


def balance(http: Any, code: str, campaign: str, item: str = "", tenant_id: str = "default") -> Any:
    for entry in customer(http, code, tenant_id)["balances"]:
        if entry["campaign_id"] == campaign and entry["item"] == item:
            return entry["balance"]
    return None


def missing(http: Any, code: str, tenant_id: str = "default") -> bool:
    response = http.get(f"/__admin/tenants/{tenant_id}/clienttoolbox/customers/{code}")
    return response.status_code == 404


def snapshot(http: Any, tenant_id: str = "default", undo_log: bool = False) -> dict[str, Any]:
    """The tenant's ClientToolbox state (its fixture export); without the undo states unless
    asked for: they are the log of the batches, which an undo does not take back (an undone
    state stays listed)."""
    response = http.get(f"/__admin/tenants/{tenant_id}/fixtures")
    assert response.status_code == 200
    state = response.json()["clienttoolbox"]
    if not undo_log:
        state.pop("undo_states", None)
    return state


def lines(*rows: str, end: str = "\n") -> str:
    return end.join(rows) + end
