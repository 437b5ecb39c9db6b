"""The `customergauge` fixture section: refused with its path, exported and loaded back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from simulator.core import fixtures
from simulator.core.fixtures import FixtureError
from tests.conftest import create_tenant
from tests.customergauge.helpers import ADMIN, file_status, mails, process, set_clock, upload


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"limits": "sometimes"}, "customergauge.limits"),
        ({"colour": "red"}, "customergauge.colour"),
        ({"send_delay_seconds": -1}, "customergauge.send_delay_seconds"),
        ({"unsubscribe": ["not-an-email"]}, "customergauge.unsubscribe"),
        ({"bounce": [{"email": "a@example.com", "why": "x"}]}, "customergauge.bounce"),
        ({"oauth_clients": [{"client_id": "x"}]}, "customergauge.oauth_clients[0].client_secret"),
        ({"max_attempts": 0}, "customergauge.max_attempts"),
    ],
)
def test_bad_sections_are_refused_with_their_path(section, path) -> None:
    with pytest.raises(FixtureError) as error:
        fixtures.validate({"customergauge": section}, "doc.yaml")
    assert error.value.path.startswith(path), error.value


def test_duplicates_are_refused() -> None:
    with pytest.raises(FixtureError, match="listed more than once"):
        fixtures.validate(
            {"customergauge": {"unsubscribe": ["a@example.com", "A@example.com"]}}, "doc"
        )
    with pytest.raises(FixtureError, match="client_id may appear once"):
        fixtures.validate(
            {
                "customergauge": {
                    "oauth_clients": [
                        {"client_id": "c", "client_secret": "1"},
                        {"client_id": "c", "client_secret": "2"},
                    ]
                }
            },
            "doc",
        )


def test_a_refused_tenant_document_is_a_400_and_creates_nothing(client: TestClient) -> None:
    response = client.post(
        "/__admin/tenants", json={"fixtures": {"customergauge": {"limits": "sometimes"}}}
    )
    assert response.status_code == 400
    assert response.json()["path"] == "customergauge.limits"


def test_export_then_load_reproduces_the_state(make_client) -> None:
    client = make_client(run_worker=False)
    set_clock(client, "2026-07-01T09:00:00Z")
    client.post(ADMIN.format(tenant="default") + "/worker/pause")
    upload(client, {"Email": "one@example.com", "order_date": "2026-08-01 00:00:00"})
    upload(client, {"Email": "two@example.com"}, {"FirstName": "none"})
    process(client)
    upload(client, {"Email": "three@example.com"})  # still queued at export
    client.post(
        "/v4.1/lists/unsubscribe.json",
        data={"email": "gone@example.com"},
        headers={"Authorization": "api_key cg-sandbox-key"},
    )

    document = client.get("/__admin/tenants/default/fixtures").json()
    copy = create_tenant(client, document)
    auth = {"Authorization": f"api_key {copy['credentials']['customergauge']['api_key']}"}

    assert file_status(client, auth=auth) == file_status(client)
    assert (
        client.get("/v4.1/lists/unsubscribe.json", headers=auth).json()
        == client.get(
            "/v4.1/lists/unsubscribe.json", headers={"Authorization": "api_key cg-sandbox-key"}
        ).json()
    )

    def comparable(rows: list[dict]) -> list[tuple]:
        return [(m["upload"], m["record"], m["email"], m["status"], m["sendAt"]) for m in rows]

    assert comparable(mails(client, copy["id"])) == comparable(mails(client))
    state = client.get(ADMIN.format(tenant=copy["id"]) + "/worker").json()
    assert state["paused"] is True
    # The copy goes on from there: its queued upload processes, new uploads number after it.
    assert process(client, copy["id"])["processed"] == [3]
    assert upload(client, {"Email": "four@example.com"}, headers=auth).headers["x-upload-id"] == "4"
    # Its OAuth client is its own (the {tenant} placeholder was exported back).
    token = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": f"cg-client-{copy['id']}",
            "client_secret": f"cg-secret-{copy['id']}",
        },
    )
    assert token.status_code == 200


def test_reset_clears_uploads_and_reloads_lists(client: TestClient) -> None:
    upload(client, {"Email": "x@example.com"})
    process(client)
    client.post("/__admin/tenants/default/reset")
    assert file_status(client) == []
    assert mails(client) == []
    assert upload(client, {"Email": "y@example.com"}).headers["x-upload-id"] == "1"
