"""What one process writes, the other reads: tenants, clocks, journal, quotas."""

from __future__ import annotations

import httpx


def test_tenant_created_through_one_is_seen_by_the_other(two_servers) -> None:
    first, second = two_servers
    tenant = first.new_tenant(name="shared")
    response = httpx.get(f"{second.url}/__admin/tenants/{tenant['id']}")
    assert response.status_code == 200
    assert response.json()["credentials"] == tenant["credentials"]


def test_clock_set_through_one_is_read_through_the_other(two_servers) -> None:
    first, second = two_servers
    tenant = first.new_tenant()
    path = f"/__admin/tenants/{tenant['id']}/clock"
    httpx.put(f"{first.url}{path}", json={"now": "2032-02-02T00:00:00Z", "frozen": True})
    httpx.post(f"{second.url}{path}/advance", json={"hours": 5})
    assert httpx.get(f"{first.url}{path}").json()["now"] == "2032-02-02T05:00:00Z"


def test_journal_holds_requests_of_both_processes(two_servers) -> None:
    first, second = two_servers
    tenant = first.new_tenant()
    headers = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    httpx.get(f"{first.url}/customers/id/1", headers=headers)
    httpx.get(f"{second.url}/customers/id/2", headers=headers)
    paths = set()
    for server in (first, second):
        entries = httpx.get(
            f"{server.url}/__admin/requests", params={"tenant": tenant["id"]}
        ).json()["requests"]
        paths |= {e["path"] for e in entries}
    assert {"/customers/id/1", "/customers/id/2"} <= paths


def test_deleting_through_one_revokes_credentials_on_the_other(two_servers) -> None:
    first, second = two_servers
    tenant = first.new_tenant()
    headers = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    assert httpx.delete(f"{second.url}/__admin/tenants/{tenant['id']}").status_code == 204
    assert httpx.get(f"{first.url}/customers/id/1", headers=headers).status_code == 401
