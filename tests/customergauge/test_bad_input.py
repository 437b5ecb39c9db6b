"""Hostile and oversized input: refused natively, without expanding, reading or storing it."""

from __future__ import annotations

import random
import socket
import tracemalloc
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from simulator.customergauge.xmlinput import XmlInputError, parse_records
from tests.customergauge.helpers import (
    AUTH,
    error_of,
    file_status,
    mails,
    post_raw,
    process,
    records_xml,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<records><record><Email>a@example.com</Email><FirstName>&lol9;</FirstName></record></records>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE records [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<records><record><Email>a@example.com</Email><FirstName>&xxe;</FirstName></record></records>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE records SYSTEM "http://127.0.0.1:9/evil.dtd">
<records><record><Email>a@example.com</Email></record></records>"""

UNDECLARED_ENTITY = b"<records><record><Email>&xxe;</Email></record></records>"


def assert_refused(response, code: int = 300001, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["Code"] == code, error
    return error


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_doctype_and_entities_are_refused_without_expansion(client: TestClient, body) -> None:
    response = post_raw(client, body)
    error = assert_refused(response)
    assert "DOCTYPE" in error["Message"]
    assert "lollol" not in response.text and "root:" not in response.text
    assert file_status(client) == []


def test_billion_laughs_costs_no_memory() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(XmlInputError):
            parse_records(BILLION_LAUGHS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # expanded, lol9 alone would be 3 GB


def test_an_undeclared_entity_is_malformed(client: TestClient) -> None:
    error = assert_refused(post_raw(client, UNDECLARED_ENTITY))
    assert "undefined entity" in error["Message"]


def test_non_utf8_bytes_are_refused_and_declared_encodings_honoured(client: TestClient) -> None:
    latin1 = "<records><record><Email>caf\u00e9@example.com</Email></record></records>"
    # Latin-1 bytes in a document that is UTF-8 by default.
    error = assert_refused(post_raw(client, latin1.encode("latin-1")))
    assert "invalid token" in error["Message"]
    # The same bytes under an encoding declaration are a valid document.
    declared = b"<?xml version='1.0' encoding='ISO-8859-1'?>" + latin1.encode("latin-1")
    assert post_raw(client, declared).json() == {"Data": True}
    process(client)
    assert mails(client)[0]["fields"]["Email"] == "caf\u00e9@example.com"
    error = assert_refused(post_raw(client, b"<?xml version='1.0' encoding='klingon'?><records/>"))
    assert "encoding" in error["Message"]


def test_binary_garbage_is_refused(client: TestClient) -> None:
    garbage = random.Random(7).randbytes(64 * 1024)
    assert_refused(post_raw(client, garbage, "application/octet-stream"))
    assert_refused(post_raw(client, b"\x00" * 10 + b"<records>", None))
    assert_refused(post_raw(client, b"\x89PNG\r\n\x1a\n" + garbage, "image/png"))
    assert file_status(client) == []


def test_ten_thousand_deep_nesting_is_refused(client: TestClient) -> None:
    deep = b"<records><record>" + b"<a>" * 10_000 + b"x" + b"</a>" * 10_000 + b"</record></records>"
    error = assert_refused(post_raw(client, deep))
    assert "plain values" in error["Message"]
    deeper_root = b"<x>" * 10_000 + b"</x>" * 10_000
    assert_refused(post_raw(client, deeper_root))


def test_body_over_2mb_is_refused_by_default(client: TestClient) -> None:
    filler = "x" * 1000
    document = records_xml(*({"Email": f"u{n}@example.com", "Note": filler} for n in range(2_100)))
    assert len(document) > 2 * 1024 * 1024
    response = post_raw(client, document)
    assert response.status_code == 413
    assert error_of(response) == {"Message": "Data larger than 2MB", "Code": 400701}
    assert file_status(client) == []


def test_more_than_2000_records_is_refused_and_2000_accepted(client: TestClient) -> None:
    over = records_xml(*({"Email": f"u{n}@example.com"} for n in range(2_001)))
    response = post_raw(client, over)
    assert response.status_code == 400
    assert error_of(response) == {
        "Message": "Too many records: at most 2,000 records per upload",
        "Code": 400702,
    }
    assert file_status(client) == []
    exactly = records_xml(*({"Email": f"u{n}@example.com"} for n in range(2_000)))
    assert post_raw(client, exactly).json() == {"Data": True}
    assert file_status(client)[0]["total_records"] == "2000"


def test_accept_and_log_mode_keeps_oversized_uploads_with_a_log_line(
    client: TestClient, new_tenant
) -> None:
    tenant = new_tenant({"customergauge": {"limits": "accept_and_log"}})
    auth = {"Authorization": f"api_key {tenant['credentials']['customergauge']['api_key']}"}
    many = records_xml(*({"Email": f"u{n}@example.com", "Note": "y" * 1100} for n in range(2_050)))
    response = post_raw(client, many, auth=auth)
    assert response.json() == {"Data": True}
    process(client, tenant["id"])
    [status] = file_status(client, auth=auth)
    assert status["status"] == "Processed"
    assert status["total_records"] == status["successful_records"] == "2050"
    assert status["logs"][0].startswith(f"Upload of {len(many.encode()):,} bytes is over the 2MB")
    assert status["logs"][1] == (
        "Upload of 2,050 records is over the 2,000-record limit: accepted (limits mode accept_and_log)"
    )


def test_fifty_megabytes_are_refused_before_being_read(live_server) -> None:
    """Only the headers and 64 KiB are sent: the answer comes without the rest of the body."""
    address = urlparse(live_server.url)
    head = (
        "POST /v4.1/stream/transactional.json HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head + b"<records>" + b" " * 65_536)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65_536)
            if not chunk:
                break
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert b" 413 " in status_line
    body = rest.partition(b"\r\n\r\n")[2]
    assert body.startswith(b'{"Error":{"Message":"request body larger than')
    assert b'"Code":400701' in body


def test_upload_ids_beyond_the_store_find_nothing(client: TestClient) -> None:
    for beyond in ("2147483648", "9223372036854775808", "1" + "0" * 30):
        response = client.get("/v4.1/file/transactional.json", params={"id": beyond}, headers=AUTH)
        assert response.status_code == 200, response.text
        assert response.json() == {"Data": []}
    for odd in ("²", "1e3", "-1", "1_000"):
        response = client.get("/v4.1/file/transactional.json", params={"id": odd}, headers=AUTH)
        assert error_of(response) == {
            "Message": "Invalid arguments supplied: id must be a file upload id",
            "Code": 300001,
        }


def test_nul_in_an_address_or_query_is_a_400_and_lists_nothing(client: TestClient) -> None:
    unsubscribe = "/v4.1/lists/unsubscribe.json"
    response = client.post(unsubscribe, data={"email": "a\x00b@example.com"}, headers=AUTH)
    assert response.status_code == 400
    assert error_of(response)["Code"] == 300001
    response = client.get(unsubscribe, params={"limit": "\x00"}, headers=AUTH)
    assert response.status_code == 400 and "NUL" in error_of(response)["Message"]
    listed = client.get(unsubscribe, params={"limit": 1000}, headers=AUTH).json()["Data"]
    assert not any("\x00" in entry["Email"] for entry in listed)


def test_oauth_secrets_beyond_ascii_or_with_nul(client: TestClient) -> None:
    form = {"grant_type": "client_credentials", "client_id": "cg-client-default"}
    response = client.post("/oauth2/token", data={**form, "client_secret": "geheim-ü"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    response = client.post("/oauth2/token", data={**form, "client_secret": "a\x00"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
