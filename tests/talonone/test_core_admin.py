"""The core part's admin inspection: sessions, events and campaigns of a tenant."""

from __future__ import annotations

import pytest

from simulator.talonone.routes.core import admin_router
from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]
BASE = "/__admin/tenants/default/talonone"


@pytest.fixture
def admin_client(client):
    """The router is registered on the package SPEC by the lead; mount it here if it is not."""
    paths = {getattr(route, "path", "") for route in client.app.routes}
    if f"{admin_router.prefix}/sessions" not in paths:
        client.app.include_router(admin_router)
    return client


def test_sessions_events_and_campaigns_are_inspectable(admin_client):
    client = admin_client
    body = {
        "customerSession": {"profileId": "customer-1", "cartItems": [{"sku": "A", "quantity": 1}]}
    }
    client.put("/v2/customer_sessions/adm-1", json=body, headers=AUTH)
    client.put("/v2/customer_sessions/adm-2", json={"customerSession": {}}, headers=AUTH)
    event = {"type": "review_submitted", "profileId": "customer-1", "attributes": {"Rating": 5}}
    client.post("/v2/events", json=event, headers=AUTH)
    listed = client.get(f"{BASE}/sessions", params={"profileId": "customer-1"})
    assert listed.status_code == 200, listed.text
    assert [s["customerSession"]["integrationId"] for s in listed.json()] == ["adm-1"]
    events = client.get(f"{BASE}/events", params={"type": "review_submitted"}).json()
    assert events[0]["attributes"] == {"Rating": 5}
    assert events[0]["effects"][0]["effectType"] == "addLoyaltyPoints"
    campaigns = client.get(f"{BASE}/campaigns").json()
    assert [c["id"] for c in campaigns] == list(range(1, 13))
    assert client.get("/__admin/tenants/nope/talonone/campaigns").status_code == 404
