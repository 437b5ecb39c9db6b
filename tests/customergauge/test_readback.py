"""Read-back the way the real API offers it: file status, unsubscribe and bounce lists."""

from __future__ import annotations

import pytest
import xmltodict
from fastapi.testclient import TestClient

from tests.conftest import create_tenant
from tests.customergauge.helpers import AUTH, error_of, file_status, process, set_clock, upload


@pytest.fixture
def quiet(make_client) -> TestClient:
    return make_client(run_worker=False)


def test_file_status_prints_every_number_as_a_string(quiet: TestClient) -> None:
    set_clock(quiet, "2026-04-01T08:15:00Z")
    upload(quiet, {"Email": "a@example.com"}, {"LastName": "X"})
    process(quiet)
    assert file_status(quiet) == [
        {
            "id": "1",
            "status": "Processed",
            "source_filename": "stream_transactional_1.xml",
            "date_upload": "2026-04-01 08:15:00",
            "total_records": "2",
            "successful_records": "1",
            "unsuccessful_records": "1",
            "logs": ["Record 2: Email address is required"],
        }
    ]


def test_file_status_filters_and_paging(quiet: TestClient) -> None:
    for day in ("2026-04-01", "2026-04-02", "2026-04-03"):
        set_clock(quiet, f"{day}T12:00:00Z")
        upload(quiet, {"Email": "a@example.com"})
    assert [s["id"] for s in file_status(quiet, id=2)] == ["2"]
    assert file_status(quiet, id=99) == []
    ids = [s["id"] for s in file_status(quiet, date_range_from="2026-04-02")]
    assert ids == ["2", "3"]
    ids = [s["id"] for s in file_status(quiet, date_range_to="2026-04-02")]
    assert ids == ["1", "2"]
    ids = [s["id"] for s in file_status(quiet, date_range_from="2026-04-01 12:00:01")]
    assert ids == ["2", "3"]
    assert [s["id"] for s in file_status(quiet, start=1, limit=1)] == ["2"]


@pytest.mark.parametrize(
    "params",
    [{"limit": "1001"}, {"limit": "0"}, {"start": "-1"}, {"id": "abc"}, {"date_range_from": "x"}],
)
def test_file_status_refuses_bad_parameters(quiet: TestClient, params) -> None:
    response = quiet.get("/v4.1/file/transactional.json", params=params, headers=AUTH)
    assert response.status_code == 400
    error = error_of(response)
    assert error["Code"] == 300001
    assert error["Message"].startswith("Invalid arguments supplied: ")


def test_file_status_in_xml(quiet: TestClient) -> None:
    upload(quiet, {"FirstName": "no email"})
    process(quiet)
    response = quiet.get("/v4.1/file/transactional.xml", headers=AUTH)
    assert response.headers["content-type"].startswith("application/xml")
    item = xmltodict.parse(response.text)["Data"]["File"]
    assert (item["id"], item["status"], item["unsuccessful_records"]) == ("1", "Processed", "1")
    assert item["logs"]["log"] == "Record 1: Email address is required"
    empty = quiet.get("/v4.1/file/transactional.xml", params={"id": 5}, headers=AUTH)
    assert xmltodict.parse(empty.text) == {"Data": None}  # <Data></Data>
    assert quiet.get("/v4.1/file/transactional.json", headers={}).status_code == 401


def test_unsubscribe_post_then_get(quiet: TestClient) -> None:
    set_clock(quiet, "2026-05-01T10:00:00Z")
    response = quiet.post(
        "/v4.1/lists/unsubscribe.json", data={"email": "new@example.com"}, headers=AUTH
    )
    assert response.status_code == 200
    assert response.json() == {"Data": {"Message": "Record added"}}
    # Again, differently cased: one entry, its first date kept.
    set_clock(quiet, "2026-05-02T10:00:00Z")
    quiet.post("/v4.1/lists/unsubscribe.json", data={"email": "NEW@example.com"}, headers=AUTH)
    listed = quiet.get("/v4.1/lists/unsubscribe.json", headers=AUTH).json()["Data"]
    assert listed == [
        {"Email": "unsubscribed@example.com", "Date": "2026-01-05 10:00:00", "User": "sandbox"},
        {"Email": "new@example.com", "Date": "2026-05-01 10:00:00", "User": ""},
    ]
    since = quiet.get(
        "/v4.1/lists/unsubscribe.json", params={"date_range_from": "2026-02-01"}, headers=AUTH
    )
    assert [e["Email"] for e in since.json()["Data"]] == ["new@example.com"]
    page = quiet.get("/v4.1/lists/unsubscribe.json", params={"start": 1}, headers=AUTH)
    assert [e["Email"] for e in page.json()["Data"]] == ["new@example.com"]
    xml = quiet.post("/v4.1/lists/unsubscribe.xml", data={"email": "x@example.com"}, headers=AUTH)
    assert xmltodict.parse(xml.text) == {"Data": {"Message": "Record added"}}
    xml = quiet.get("/v4.1/lists/unsubscribe.xml", params={"limit": 1}, headers=AUTH)
    assert xmltodict.parse(xml.text)["Data"]["Record"]["Email"] == "unsubscribed@example.com"


def test_unsubscribe_post_errors(quiet: TestClient) -> None:
    for data in ({}, {"email": ""}, {"other": "x"}):
        response = quiet.post("/v4.1/lists/unsubscribe.json", data=data, headers=AUTH)
        assert response.status_code == 400
        assert error_of(response) == {"Message": "Email address is required", "Code": 400402}
    response = quiet.post("/v4.1/lists/unsubscribe.xml", data={"email": "nope"}, headers=AUTH)
    assert response.status_code == 400
    assert error_of(response)["Code"] == 300001
    response = quiet.post(
        "/v4.1/lists/unsubscribe.json",
        content=b"email=caf\xe9@example.com",
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert error_of(response)["Code"] == 300001
    response = quiet.post("/v4.1/lists/unsubscribe.json", data={"email": "a@example.com"})
    assert response.status_code == 401
    assert len(quiet.get("/v4.1/lists/unsubscribe.json", headers=AUTH).json()["Data"]) == 1


def test_bounce_list_and_isolation(quiet: TestClient) -> None:
    bounces = quiet.get("/v4.1/lists/bounce.json", headers=AUTH).json()["Data"]
    assert bounces == [
        {
            "Email": "bounced@example.com",
            "Date": "2026-01-06 11:30:00",
            "Reason": "550 Mailbox unavailable",
        }
    ]
    other = create_tenant(quiet, {"customergauge": {"bounce": ["x@example.org"]}})
    other_auth = {"Authorization": f"api_key {other['credentials']['customergauge']['api_key']}"}
    other_bounces = quiet.get("/v4.1/lists/bounce.json", headers=other_auth).json()["Data"]
    assert [b["Email"] for b in other_bounces] == ["x@example.org"]
    assert quiet.get("/v4.1/lists/unsubscribe.json", headers=other_auth).json() == {"Data": []}
    response = quiet.post("/v4.1/lists/bounce.json", data={"email": "a@b.co"}, headers=AUTH)
    assert response.status_code == 405
    assert error_of(response)["Code"] == 300003


def test_unsubscribe_accepts_json_and_multipart_bodies(quiet: TestClient) -> None:
    response = quiet.post(
        "/v4.1/lists/unsubscribe.json", json={"email": "j@example.com"}, headers=AUTH
    )
    assert response.json() == {"Data": {"Message": "Record added"}}
    response = quiet.post(
        "/v4.1/lists/unsubscribe.json", files={"email": (None, "m@example.com")}, headers=AUTH
    )
    assert response.json() == {"Data": {"Message": "Record added"}}
    response = quiet.post(
        "/v4.1/lists/unsubscribe.json",
        content=b"[1]",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["Code"] == 300001
    listed = quiet.get("/v4.1/lists/unsubscribe.json", headers=AUTH).json()["Data"]
    assert [e["Email"] for e in listed][1:] == ["j@example.com", "m@example.com"]
