"""POST /v4.1/stream/transactional: what is accepted, in which formats, and what is refused."""

from __future__ import annotations

import urllib.parse

import xmltodict
from fastapi.testclient import TestClient

from tests.customergauge.helpers import (
    AUTH,
    STREAM,
    error_of,
    file_status,
    mails,
    post_raw,
    process,
    records_xml,
    upload,
    uploads,
)

DOC_EXAMPLE = (
    "<?xml version='1.0' encoding='utf-8'?><records><record>"
    "<Email>lee_klameth@directness.net</Email><FirstName>Lee</FirstName>"
    "<LastName>Klameth</LastName></record></records>"
)


def test_the_documented_curl_example_is_accepted_and_queued(make_client) -> None:
    client = make_client(run_worker=False)
    # `curl -d` sends the XML as is, labelled application/x-www-form-urlencoded.
    response = post_raw(client, DOC_EXAMPLE, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"Data": True}
    assert response.headers["x-upload-id"] == "1"
    # Stored and queued, not processed inside the request.
    [status] = file_status(client)
    assert status["status"] == "Queued"
    assert status["total_records"] == "1"
    assert mails(client) == []
    process(client)
    [mail] = mails(client)
    assert mail["email"] == "lee_klameth@directness.net"
    assert mail["fields"] == {
        "Email": "lee_klameth@directness.net",
        "FirstName": "Lee",
        "LastName": "Klameth",
    }


def test_xml_suffix_answers_xml_and_no_suffix_answers_json(client: TestClient) -> None:
    response = upload(client, {"Email": "a@example.com"}, path="/v4.1/stream/transactional.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert xmltodict.parse(response.text) == {"Data": "true"}
    response = upload(client, {"Email": "b@example.com"}, path="/v4.1/stream/transactional")
    assert response.json() == {"Data": True}


def test_any_content_type_and_form_field_carry_the_xml(make_client) -> None:
    client = make_client(run_worker=False)
    document = records_xml({"Email": "x@example.com", "FirstName": "Zoë &amp; Co"})
    for content_type in ("text/xml", "application/xml", None, "text/plain; charset=utf-8"):
        assert post_raw(client, document, content_type).json() == {"Data": True}
    encoded = urllib.parse.urlencode({"xml": document})
    assert post_raw(client, encoded, "application/x-www-form-urlencoded").json() == {"Data": True}
    assert post_raw(client, "\n\n  " + document, "text/xml").json() == {"Data": True}
    bare = urllib.parse.quote(document)
    assert post_raw(client, bare, "application/x-www-form-urlencoded").json() == {"Data": True}
    process(client)
    assert [m["fields"]["FirstName"] for m in mails(client)] == ["Zoë & Co"] * 7


def test_uploads_in_quick_succession_are_all_kept_in_order(make_client) -> None:
    client = make_client(run_worker=False)
    for n in range(1, 6):
        response = upload(client, {"Email": f"u{n}@example.com"})
        assert response.headers["x-upload-id"] == str(n)
    summary = process(client)
    assert summary["processed"] == [1, 2, 3, 4, 5]
    assert [m["email"] for m in mails(client)] == [f"u{n}@example.com" for n in range(1, 6)]


def test_record_problems_are_logged_per_record_without_failing_the_upload(
    client: TestClient,
) -> None:
    response = upload(
        client,
        {"Email": "ok@example.com", "order_date": "2026-01-02 10:00:00"},
        {"FirstName": "NoEmail"},
        {"Email": "late@example.com", "order_date": "02/01/2026"},
        {"Email": "not-an-address"},
        {"Email": "   "},
    )
    assert response.json() == {"Data": True}
    process(client)
    [status] = file_status(client)
    assert status["status"] == "Processed"
    assert (status["total_records"], status["successful_records"]) == ("5", "1")
    assert status["unsuccessful_records"] == "4"
    assert status["logs"] == [
        "Record 2: Email address is required",
        "Record 3: order_date '02/01/2026' is not a valid date (expected YYYY-mm-dd H:i:s)",
        "Record 4: Email address 'not-an-address' is not valid",
        "Record 5: Email address is required",
    ]
    invalid = mails(client, status="invalid")
    assert [m["record"] for m in invalid] == [2, 3, 4, 5]
    assert invalid[0]["reason"] == "Email address is required"


def test_no_data_is_400700(client: TestClient) -> None:
    for body in (b"", b"   \n", b"<records/>", b"<?xml version='1.0'?><records>\n</records>"):
        response = post_raw(client, body)
        assert response.status_code == 400, body
        assert error_of(response) == {"Message": "No data provided", "Code": 400700}
    response = post_raw(client, b"", path="/v4.1/stream/transactional.xml")
    assert response.status_code == 400
    assert error_of(response) == {"Message": "No data provided", "Code": 400700}
    assert file_status(client) == []


def test_malformed_xml_gets_a_clear_native_400(client: TestClient) -> None:
    cases = {
        b"<records><record><Email>a@b.co</Email></record>": "no element found",
        b"<records><record><Email>a@b.co</Emial></record></records>": "mismatched tag",
        b"Email=a@b.co": "not well-formed",
        b"<customers><record/></customers>": "root element must be <records>",
        b"<records><row><Email>a@b.co</Email></row></records>": "only contain <record>",
        b"<records><record><Email><x>a</x></Email></record></records>": "fields hold plain values",
    }
    for body, expected in cases.items():
        response = post_raw(client, body)
        assert response.status_code == 400, body
        error = error_of(response)
        assert error["Code"] == 300001
        assert error["Message"].startswith("Invalid XML"), error
        assert expected in error["Message"], (body, error)
    assert file_status(client) == []


def test_invalid_key_is_401_200000_in_both_formats(client: TestClient) -> None:
    bad = {"Authorization": "api_key wrong"}
    response = post_raw(client, DOC_EXAMPLE, auth=bad)
    assert response.status_code == 401
    assert error_of(response) == {"Message": "Invalid API Key", "Code": 200000}
    response = post_raw(client, DOC_EXAMPLE, auth={}, path="/v4.1/stream/transactional.xml")
    assert response.status_code == 401
    assert error_of(response) == {"Message": "Invalid API Key", "Code": 200000}
    response = post_raw(client, DOC_EXAMPLE, auth={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert file_status(client) == []


def test_unknown_module_and_method(client: TestClient) -> None:
    response = client.post("/v4.1/streams/transactional.json", headers=AUTH)
    assert response.status_code == 404
    assert error_of(response) == {"Message": "Module does not exist", "Code": 300002}
    response = client.post("/v4.1/stream/bulk.xml", headers=AUTH)
    assert response.status_code == 405
    assert error_of(response) == {"Message": "Method does not exist", "Code": 300003}
    response = client.get(STREAM, headers=AUTH)
    assert response.status_code == 405
    assert error_of(response)["Code"] == 300003
    response = client.delete("/v4.1/lists/bounce.json", headers=AUTH)
    assert response.status_code == 405


def test_tenants_see_only_their_own_uploads(client: TestClient, new_tenant) -> None:
    other = new_tenant()
    other_auth = {"Authorization": f"api_key {other['credentials']['customergauge']['api_key']}"}
    upload(client, {"Email": "mine@example.com"})
    upload(client, {"Email": "theirs@example.com"}, headers=other_auth)
    process(client)
    process(client, other["id"])
    assert [s["id"] for s in file_status(client)] == ["1"]
    assert [s["id"] for s in file_status(client, auth=other_auth)] == ["1"]
    assert [m["email"] for m in mails(client, other["id"])] == ["theirs@example.com"]
    assert len(uploads(client)) == 1


def test_a_multipart_file_upload_carries_the_xml(make_client) -> None:
    client = make_client(run_worker=False)
    document = records_xml({"Email": "file@example.com"})
    response = client.post(
        STREAM, files={"file": ("records.xml", document.encode(), "text/xml")}, headers=AUTH
    )
    assert response.json() == {"Data": True}
    response = client.post(
        STREAM,
        content=b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\n<records>",
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"},
    )
    # A truncated multipart body has no complete part: nothing was provided.
    assert response.status_code == 400
    assert error_of(response)["Code"] == 400700
    process(client)
    assert [m["email"] for m in mails(client)] == ["file@example.com"]
