"""The ECDP API through a real `simulator serve` process."""

from __future__ import annotations

import httpx


def test_post_then_get_over_http(live_server) -> None:
    tenant = live_server.new_tenant()
    key = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    with httpx.Client(base_url=live_server.url, headers=key, timeout=10) as http:
        body = {
            "mode": "AddOrUpdate",
            "matchBy": "Email",
            "data": [{"email": f"live{i}@example.com", "firstName": str(i)} for i in range(200)],
        }
        response = http.post("/customers", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["data"] == {"added": 200, "updated": 0}
        found = http.get("/customers/email/LIVE199@example.com")
        assert found.status_code == 200
        assert found.json()["data"]["firstName"] == "199"
        missing = http.get("/customers/email/nobody@example.com")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
