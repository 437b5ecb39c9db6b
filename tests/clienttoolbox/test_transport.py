"""Transport: credentials, dispatch on `type`, paths, GET/POST, field case, output formats."""

from __future__ import annotations

import json

import xmltodict
from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import CREDENTIALS, as_json, post, tenant_credentials, xml

LIST = {"type": "campaign_rewards", "campaign_id": "4638472975924871"}


def test_missing_credentials_is_a_native_401(client: TestClient) -> None:
    response = post(client, credentials={}, **LIST)
    assert response.status_code == 401
    body = xml(response)
    assert body["@status"] == "error"
    assert "credentials" in body["error"]


def test_wrong_key_user_or_account_is_refused(client: TestClient) -> None:
    for wrong in ({"user_api_key": "nope"}, {"user_id": "someone"}, {"account_id": "other"}):
        response = post(client, credentials={**CREDENTIALS, **wrong}, **LIST)
        assert response.status_code == 401, wrong
        assert xml(response)["@status"] == "error"


def test_header_api_access_key_wins_over_the_body(client: TestClient) -> None:
    data = {**CREDENTIALS, **LIST}
    ok = client.post(
        "/", data={**data, "user_api_key": "wrong"}, headers={"api_access_key": "ct-sandbox-key"}
    )
    assert ok.status_code == 200
    refused = client.post("/", data=data, headers={"api_access_key": "wrong"})
    assert refused.status_code == 401
    without_body_key = {k: v for k, v in data.items() if k != "user_api_key"}
    assert (
        client.post(
            "/", data=without_body_key, headers={"api_access_key": "ct-sandbox-key"}
        ).status_code
        == 200
    )


def test_older_user_password_form_without_api(client: TestClient) -> None:
    legacy = {"user_id": "sandbox", "user_password": "ct-sandbox-key", "account_id": "sandbox"}
    response = post(client, credentials=legacy, **LIST)
    assert response.status_code == 200
    assert xml(response)["rewards"]["reward"][0]["id"] == "356"


def test_each_tenant_sees_only_its_own_campaigns(client: TestClient, new_tenant) -> None:
    other = new_tenant(fixtures="empty")
    response = post(client, credentials=tenant_credentials(other), **LIST)
    assert response.status_code == 400
    assert "Unknown campaign_id" in xml(response)["error"]


def test_unknown_or_missing_type_and_bad_api_version(client: TestClient) -> None:
    missing = post(client)
    assert missing.status_code == 400 and xml(missing)["error"] == "Missing type"
    unknown = post(client, type="teleport")
    assert unknown.status_code == 400 and xml(unknown)["error"] == "Unknown type 'teleport'"
    version = post(client, credentials={**CREDENTIALS, "API": "9"}, **LIST)
    assert version.status_code == 400 and "API version" in xml(version)["error"]


def test_type_is_dispatched_on_both_paths_and_with_get(client: TestClient) -> None:
    for path in ("/", "/api.php"):
        assert xml(post(client, path, **LIST))["@status"] == "success"
    response = client.get("/api.php", params={**CREDENTIALS, **LIST})
    assert response.status_code == 200
    assert xml(response)["campaign"]["id"] == "4638472975924871"


def test_field_names_match_case_insensitively(client: TestClient) -> None:
    data = {
        "USER_ID": "sandbox",
        "User_Api_Key": "ct-sandbox-key",
        "Account_ID": "sandbox",
        "TYPE": "campaign_rewards",
        "Campaign_Id": "4638472975924871",
        "Output": "JSON",
    }
    response = client.post("/", data=data)
    assert response.status_code == 200
    assert as_json(response)["campaign"] == {"id": "4638472975924871"}


def test_multipart_form_is_read_like_urlencoded(client: TestClient) -> None:
    files = {k: (None, v) for k, v in {**CREDENTIALS, **LIST}.items()}
    response = client.post("/", files=files)
    assert response.status_code == 200
    assert xml(response)["rewards"]["reward"][1]["reward_id"] == "156739948736"


def test_same_data_in_xml_json_jsonp_and_condensed(client: TestClient) -> None:
    xml_body = xml(post(client, **LIST))
    pretty = post(client, output="JSON", **LIST)
    condensed = post(client, output="json", condensed="yes", **LIST)
    jsonp = post(client, callback="handle", **LIST)
    jsonp_condensed = post(client, callback="handle", condensed="yes", **LIST)
    assert "\n" in pretty.text and "\n" not in condensed.text
    assert pretty.json() == condensed.json()
    assert jsonp.headers["content-type"].startswith("application/javascript")
    assert jsonp.text.startswith("handle(") and jsonp.text.endswith(");")
    assert "\n" not in jsonp_condensed.text
    data = json.loads(jsonp.text[len("handle(") : -2])
    assert data == pretty.json()
    assert data["status"] == xml_body["@status"] == "success"
    assert [r["id"] for r in data["rewards"]["reward"]] == [356, 417, 1500]
    assert [r["id"] for r in xml_body["rewards"]["reward"]] == ["356", "417", "1500"]
    # condensed applies only to JSON(P): XML keeps its layout
    assert "\n" in post(client, condensed="yes", **LIST).text


def test_errors_follow_the_output_format(client: TestClient) -> None:
    as_json_error = post(client, output="JSON", type="nope")
    assert as_json_error.status_code == 400
    assert as_json_error.json() == {"status": "error", "error": "Unknown type 'nope'"}
    jsonp = post(client, callback="cb", type="nope")
    assert jsonp.text.startswith("cb(") and '"status": "error"' in jsonp.text
    unauthorised = client.post("/", data={"output": "JSON", "type": "reports"})
    assert unauthorised.status_code == 401
    assert unauthorised.json()["status"] == "error"


def test_bad_delimiter_is_a_native_error(client: TestClient) -> None:
    for delimiter, message in (("", "Missing delimiter"), ("semicolon", "Invalid delimiter")):
        response = post(
            client,
            type="batch_transactions",
            delimiter=delimiter,
            visits_header_1="campaign_id",
            Visits_Data="x",
        )
        assert response.status_code == 400
        assert message in xml(response)["error"]


def test_xml_is_well_formed_with_a_declaration(client: TestClient) -> None:
    response = post(client, **LIST)
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert xmltodict.parse(response.text)["response"]["@status"] == "success"


def test_requests_are_journaled_with_their_operation(client: TestClient) -> None:
    post(client, **LIST)
    entries = client.get("/__admin/requests", params={"api": "clienttoolbox"}).json()["requests"]
    assert entries[0]["operation"] == "campaign_rewards"
    assert entries[0]["tenant"] == "default"


def test_characters_xml_cannot_carry_are_refused_and_nothing_is_written(client) -> None:
    before = client.get("/__admin/tenants/default/fixtures").json()["clienttoolbox"]
    fields = {
        "type": "customers_batch",
        "delimiter": "pipe",
        "campaigns_to_include": "898989889",
        "profiles_header_1": "code",
        "profiles_header_2": "first_name",
        "Profiles_Data": "NUL1|bad\x00name\n",
    }
    for extra in ({}, {"output": "JSON"}):
        response = post(client, **fields, **extra)
        assert response.status_code == 400
        message = (as_json(response) if extra else xml(response))["error"]
        assert message == "Invalid character U+0000 in field 'profiles_data'"
    odd_name = client.post("/", data={**CREDENTIALS, "type\x01": "x"})
    assert odd_name.status_code == 400
    assert "field 'type?'" in xml(odd_name)["error"]
    assert client.get("/__admin/tenants/default/fixtures").json()["clienttoolbox"] == before
