"""Malformed POST /customers requests: 400/413/415 problem+json naming the field, nothing written."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.ecdp.routes import MAX_BODY_BYTES
from simulator.ecdp.service.parsing import MAX_ITEMS
from tests.ecdp.helpers import KEY, errors, get, post, problem

VALID_ITEM = {"email": "valid@example.com"}


def send(client: TestClient, body: object) -> object:
    return client.post("/customers", json=body, headers=KEY)


def assert_nothing_written(client: TestClient) -> None:
    problem(get(client, "email", "valid@example.com"), 404)
    assert client.get("/customers/id/4", headers=KEY).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchBy": "Email", "data": [VALID_ITEM]}, "mode"),
        ({"mode": "Add", "data": [VALID_ITEM]}, "matchBy"),
        ({"mode": "Add", "matchBy": "Email"}, "data"),
        ({"mode": "Add", "matchBy": "Email", "data": []}, "data"),
        ({"mode": "Add", "matchBy": "Email", "data": None}, "data"),
        ({"mode": 1, "matchBy": "Email", "data": [VALID_ITEM]}, "mode"),
        ({"mode": "Insert", "matchBy": "Email", "data": [VALID_ITEM]}, "mode"),
        ({"mode": "Add", "matchBy": ["Email"], "data": [VALID_ITEM]}, "matchBy"),
        ({"mode": "Add", "matchBy": "Name", "data": [VALID_ITEM]}, "matchBy"),
        ({"mode": "Add", "matchBy": "Email", "data": VALID_ITEM}, "data"),
        ({"mode": "Add", "matchBy": "Email", "data": "x"}, "data"),
        ({"mode": "Add", "matchBy": "Email", "data": [VALID_ITEM], "extra": 1}, "extra"),
        ({"mode": "Add", "matchBy": "Email", "data": [VALID_ITEM, "x"]}, "data[1]"),
        ({"mode": "Add", "matchBy": "Email", "data": [VALID_ITEM, None]}, "data[1]"),
    ],
)
def test_envelope_errors_name_the_field(client: TestClient, body: dict, field: str) -> None:
    found = errors(send(client, body))
    assert field in found, found
    assert_nothing_written(client)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"email": "a" * 309 + "@example.com"}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"email": 5}, "email"),
        ({"email": "ok@example.com", "phone": "1" * 21}, "phone"),
        ({"email": "ok@example.com", "phone": "123 456"}, "phone"),
        ({"email": "ok@example.com", "phone": 123456}, "phone"),
        ({"email": "ok@example.com", "crmId": "c" * 129}, "crmId"),
        ({"email": "ok@example.com", "visitorId": "v" * 39}, "visitorId"),
        ({"email": "ok@example.com", "firstName": "f" * 257}, "firstName"),
        ({"email": "ok@example.com", "lastName": "l" * 257}, "lastName"),
        ({"email": "ok@example.com", "lastName": ["x"]}, "lastName"),
        ({"email": "ok@example.com", "dateOfBirth": "1990-13-01T00:00:00Z"}, "dateOfBirth"),
        ({"email": "ok@example.com", "dateOfBirth": "yesterday"}, "dateOfBirth"),
        ({"email": "ok@example.com", "dateOfBirth": 19900101}, "dateOfBirth"),
        ({"email": "ok@example.com", "dateOfBirth": "0001-01-01T00:00:00+01:00"}, "dateOfBirth"),
        ({"email": "ok@example.com", "dateOfBirth": "9999-12-31T23:59:59-01:00"}, "dateOfBirth"),
        ({"email": "ok@example.com", "gender": "Other"}, "gender"),
        ({"email": "ok@example.com", "gender": True}, "gender"),
        ({"email": "ok@example.com", "customAttributes": {"name": "vip"}}, "customAttributes"),
        ({"email": "ok@example.com", "customAttributes": ["vip"]}, "customAttributes[0]"),
        ({"email": "ok@example.com", "consentsData": []}, "consentsData"),
        ({"email": "ok@example.com", "consentsData": {"consents": {}}}, "consentsData.consents"),
        ({"email": "ok@example.com", "consentsData": {"other": 1}}, "consentsData.other"),
        ({"email": "ok@example.com", "nickname": "x"}, "nickname"),
        ({"firstName": "no email"}, "email"),
        ({"email": ""}, "email"),
    ],
)
def test_item_errors_name_the_field_with_its_index(
    client: TestClient, item: dict, field: str
) -> None:
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": [VALID_ITEM, item]}
    found = errors(send(client, body))
    assert list(found) == [f"data[1].{field}"], found
    detail = send(client, body).json()["detail"]
    assert detail.startswith(f"data[1].{field}: ")
    assert_nothing_written(client)


def test_every_failing_item_is_listed(client: TestClient) -> None:
    items = [VALID_ITEM, {"email": "bad"}, VALID_ITEM, {"email": "x@example.com", "gender": "?"}]
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": items}
    response = send(client, body)
    found = errors(response)
    assert set(found) == {"data[1].email", "data[3].gender"}
    assert response.json()["substatus"] == "CustomerInvalidModelState"
    assert response.json()["instance"] == "/customers"
    assert "and 1 more error" in response.json()["detail"]
    assert_nothing_written(client)


def test_too_many_items(client: TestClient) -> None:
    items = [{"email": f"u{i}@example.com"} for i in range(MAX_ITEMS + 1)]
    found = errors(send(client, {"mode": "Add", "matchBy": "Email", "data": items}))
    assert list(found) == ["data"]
    problem(get(client, "email", "u0@example.com"), 404)


def test_a_10_mb_body_is_refused_before_parsing(client: TestClient) -> None:
    filler = "x" * 256
    items = [{"email": f"u{i}@example.com", "lastName": filler} for i in range(40_000)]
    raw = json.dumps({"mode": "Add", "matchBy": "Email", "data": items}).encode()
    assert len(raw) > 10_000_000 > MAX_BODY_BYTES
    response = client.post(
        "/customers", content=raw, headers={**KEY, "content-type": "application/json"}
    )
    body = problem(response, 413)
    assert str(MAX_BODY_BYTES) in body["detail"]
    problem(get(client, "email", "u0@example.com"), 404)


def test_a_large_body_without_content_length_is_refused_too(client: TestClient) -> None:
    def chunks():
        yield b'{"mode":"Add","matchBy":"Email","data":['
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536
        yield b"]}"

    response = client.post(
        "/customers", content=chunks(), headers={**KEY, "content-type": "application/json"}
    )
    problem(response, 413)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{not json",
        b'{"mode": "Add",',
        b"\xff\xfe",
        b"[]",
        b'"text"',
        b"42",
        b"null",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"mode": ' + b"9" * 5000 + b"}",
    ],
)
def test_bodies_that_are_not_a_json_object(client: TestClient, raw: bytes) -> None:
    response = client.post(
        "/customers", content=raw, headers={**KEY, "content-type": "application/json"}
    )
    found = errors(response)
    assert list(found) == ["$"]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        "/customers",
        content=b"mode=Add",
        headers={**KEY, "content-type": "application/x-www-form-urlencoded"},
    )
    problem(response, 415)


def test_wrong_method_and_unknown_path_answer_problem_json(client: TestClient) -> None:
    problem(client.delete("/customers/id/1", headers=KEY), 405)
    problem(client.get("/customers/name/adam", headers=KEY), 404)


def test_bad_request_writes_no_confirmation(client: TestClient) -> None:
    item = {
        "email": "c@example.com",
        "consentsData": {"consents": [{"id": 1, "value": "AwaitingConfirmation"}]},
    }
    body = {"mode": "Add", "matchBy": "Email", "data": [item, {"email": "bad"}]}
    errors(send(client, body))
    assert client.get("/__admin/tenants/default/ecdp/confirmations").json() == {"confirmations": []}
    assert post(client, "Add", "Email", item).status_code == 201


def test_errors_are_the_documented_list_of_strings(client: TestClient) -> None:
    body = {"mode": "Add", "matchBy": "Email", "data": [{"email": "bad"}, {"email": 1}]}
    response = send(client, body)
    assert response.json()["errors"] == [
        "data[0].email: 'bad' is not a valid e-mail address.",
        "data[1].email: Expected a string, got number.",
    ]


def test_a_tenant_can_ask_for_the_asp_net_map_of_errors(client: TestClient, new_tenant) -> None:
    tenant = new_tenant({"ecdp": {"validationErrors": "map"}})
    key = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    body = {"mode": "Add", "matchBy": "Email", "data": [{"email": "bad"}, {"email": 1}]}
    response = client.post("/customers", json=body, headers=key)
    assert problem(response, 400)["errors"] == {
        "data[0].email": ["'bad' is not a valid e-mail address."],
        "data[1].email": ["Expected a string, got number."],
    }
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()["ecdp"]
    assert exported["validationErrors"] == "map"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "email",
        "phone",
        "crmId",
        "visitorId",
        "firstName",
        "dateOfBirth",
        "gender",
        "customAttributes",
        "consentsData",
        "guid",
        "Email",
        "other",
    ]
)
items = st.dictionaries(field_names, json_values, max_size=5) | json_values


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mode=st.sampled_from(["Add", "Update", "AddOrUpdate", "add", "x", None, 1]),
    match_by=st.sampled_from(["Email", "PhoneNumber", "CrmId", "GUID", "VisitorId", "?", None]),
    data=st.lists(items, max_size=4) | json_values,
)
def test_arbitrary_bodies_never_fail_with_a_500(
    client: TestClient, mode: object, match_by: object, data: object
) -> None:
    response = send(client, {"mode": mode, "matchBy": match_by, "data": data})
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert isinstance(response.json()["errors"], list)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"mode": "Add", "matchBy": "Email", "data": [{"email": "a\\u0000@x.com"}]}',
            "data[0].email",
        ),
        (
            b'{"mode": "Add", "matchBy": "Email", "data": [{"email": "a@x.com", "firstName": "\\ud800"}]}',
            "data[0].firstName",
        ),
        (b'{"mode": "Add\\u0000", "matchBy": "Email", "data": []}', "mode"),
    ],
)
def test_text_no_store_keeps_is_a_400_on_its_field(
    client: TestClient, raw: bytes, field: str
) -> None:
    response = client.post(
        "/customers", content=raw, headers={**KEY, "content-type": "application/json"}
    )
    assert field in errors(response)
    assert_nothing_written(client)


def test_nul_and_ids_beyond_the_store_in_lookups(client: TestClient) -> None:
    for path in (
        "/customers/email/a%00b@example.com",
        "/customers/crmId/%00",
        "/customers/id/1%00",
    ):
        assert "NUL" in problem(client.get(path, headers=KEY), 400)["detail"]
    for beyond in (2**31, -(2**31) - 1, 2**63):
        problem(get(client, "id", beyond), 404)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"mode=Add", "application/x-www-form-urlencoded"),
        (b"{" + b" " * (64 * 1024) + b"not json", "application/json"),
        (b" " * (MAX_BODY_BYTES + 1), "application/json"),
    ],
)
def test_a_wrong_key_is_answered_before_the_body(
    client: TestClient, raw: bytes, content_type: str
) -> None:
    headers = {"x-api-key": "nope", "content-type": content_type}
    problem(client.post("/customers", content=raw, headers=headers), 401)
