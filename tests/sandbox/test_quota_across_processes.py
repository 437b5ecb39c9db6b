"""A requests-per-second quota is counted in the database: the requests a tenant sends through
both processes add up, and another tenant is not slowed by it."""

from __future__ import annotations

import time

import httpx

from tests.conftest import LiveServer

QUOTA = 5
# A Talon.One read behind the API key dependency (ECDP GET lookups skip quotas: reported).
PATH = "/v1/loyalty_programs/1/profile/loyalty-demo-1/balances"


def talon_headers(tenant: dict) -> dict[str, str]:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def start_of_a_second() -> float:
    """Sleep to just after a wall-clock second starts; returns that second."""
    now = time.time()
    time.sleep(1 - (now % 1) + 0.01)
    return int(time.time())


def burst(http: httpx.Client, servers: tuple[LiveServer, ...], headers: dict) -> list:
    """QUOTA requests through the first process, then QUOTA through the second, within one
    wall-clock second (None when the burst crossed into the next second)."""
    second = start_of_a_second()
    responses = [http.get(f"{servers[0].url}{PATH}", headers=headers) for _ in range(QUOTA)]
    responses += [http.get(f"{servers[1].url}{PATH}", headers=headers) for _ in range(QUOTA)]
    return responses if int(time.time()) == second else None


def test_quota_counts_requests_of_both_processes_and_spares_other_tenants(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    limited = first.new_tenant()
    other = first.new_tenant()
    limited_key = talon_headers(limited)
    other_key = talon_headers(other)
    with httpx.Client(timeout=10) as http:
        quotas = f"/__admin/tenants/{limited['id']}/quotas"
        assert (
            http.put(f"{first.url}{quotas}", json={"requestsPerSecond": QUOTA}).status_code == 200
        )
        assert http.get(f"{second.url}{quotas}").json()["requestsPerSecond"] == QUOTA
        responses = None
        for _ in range(5):  # a burst that straddles a second boundary proves nothing: again
            responses = burst(http, two_servers, limited_key)
            if responses is not None:
                break
        assert responses is not None, "no burst fitted in one second"
        statuses = [r.status_code for r in responses]
        # Through the first process the quota is used up; the second process knows it.
        assert statuses == [200] * QUOTA + [429] * QUOTA, (statuses, responses[0].text)
        refused = responses[-1]
        assert refused.json()["StatusCode"] == 429
        assert "Rate limit" in refused.json()["message"]
        assert refused.headers["Retry-After"] == "1"
        # The other tenant, at the same time and through the same process, is untouched.
        others = [
            http.get(f"{server.url}{PATH}", headers=other_key).status_code
            for server in (second, first, second, first, second, first, second, first)
        ]
        assert others == [200] * 8
        # A later second starts a fresh count.
        start_of_a_second()
        assert http.get(f"{second.url}{PATH}", headers=limited_key).status_code == 200
        # Lifted through one process, gone on both.
        assert http.put(f"{second.url}{quotas}", json={}).status_code == 200
        start_of_a_second()
        statuses = [
            http.get(f"{server.url}{PATH}", headers=limited_key).status_code
            for server in (first, second) * QUOTA
        ]
        assert statuses == [200] * 2 * QUOTA
