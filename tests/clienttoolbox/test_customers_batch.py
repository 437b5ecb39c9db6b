"""customers_batch: headers, matching and overwrite modes, generated ids, campaigns, auto_add,
line formats, line errors and atomicity."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import (
    balance,
    customer,
    missing,
    post,
    snapshot,
    tenant_credentials,
    xml,
)

STRICT_WORLD = {
    "clienttoolbox": {
        "account": {"unknown_fields": "error"},
        "custom_fields": [
            {"name": "custom_field_1", "label": "Tier", "type": "List", "choices": ["Gold", "Blue"]}
        ],
        "campaigns": [
            {"id": "100", "type": "points"},
            {"id": "200", "type": "events"},
            {"id": "300", "type": "buyx", "items": [{"id": "9", "description": "Coffees"}]},
        ],
        "customers": [
            {
                "code": "C1",
                "card_number": "9001",
                "first_name": "Old",
                "last_name": "Name",
                "email": "old@example.com",
                "custom_fields": {"custom_field_1": "Gold"},
                "balances": [{"campaign": "100", "balance": 10}],
            }
        ],
    }
}


def batch(headers: list[str], data: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": "customers_batch",
        "delimiter": "pipe",
        "campaigns_to_include": "100",
        "Profiles_Data": data,
    }
    fields.update({f"profiles_header_{i}": name for i, name in enumerate(headers, 1)})
    fields.update(extra)
    return fields


@pytest.fixture
def strict(new_tenant) -> dict[str, Any]:
    tenant = new_tenant(fixtures=STRICT_WORLD)
    return {"id": tenant["id"], "credentials": tenant_credentials(tenant)}


def run(client: TestClient, tenant: dict, **fields: Any) -> Any:
    return post(client, credentials=tenant["credentials"], **fields)


def test_overwrite_yes_blanks_then_writes(client: TestClient, strict: dict) -> None:
    fields = batch(["code", "first_name"], "C1|New\n", overwrite_duplicates="yes")
    body = xml(run(client, strict, **fields))
    assert body["batch"]["customers"] == {"new": "0", "updated": "1", "skipped": "0"}
    c1 = customer(client, "C1", strict["id"])
    assert c1["first_name"] == "New"
    assert c1["last_name"] == "" and c1["email"] == ""
    assert "custom_field_1" not in c1
    assert c1["card_number"] == "9001"  # identity kept
    assert balance(client, "C1", "100", tenant_id=strict["id"]) == 10  # balances are not fields


def test_overwrite_update_changes_only_the_given_fields(client: TestClient, strict: dict) -> None:
    fields = batch(["code", "first_name"], "C1|New\n", overwrite_duplicates="update")
    xml(run(client, strict, **fields))
    c1 = customer(client, "C1", strict["id"])
    assert (c1["first_name"], c1["last_name"], c1["email"]) == ("New", "Name", "old@example.com")
    assert c1["custom_field_1"] == "Gold"


def test_overwrite_ignore_skips_the_row(client: TestClient, strict: dict) -> None:
    fields = batch(["code", "first_name"], "C1|New\nC2|Two\n", overwrite_duplicates="ignore")
    body = xml(run(client, strict, **fields))
    assert body["batch"]["customers"] == {"new": "1", "updated": "0", "skipped": "1"}
    assert customer(client, "C1", strict["id"])["first_name"] == "Old"
    assert customer(client, "C2", strict["id"])["first_name"] == "Two"


def test_invalid_overwrite_mode(client: TestClient, strict: dict) -> None:
    response = run(client, strict, **batch(["code"], "C9\n", overwrite_duplicates="merge"))
    assert response.status_code == 400
    assert "overwrite_duplicates" in xml(response)["error"]


def test_a_line_without_code_matches_on_card_number(client: TestClient, strict: dict) -> None:
    fields = batch(["card_number", "first_name"], "9001|ByCard\n", overwrite_duplicates="update")
    body = xml(run(client, strict, **fields))
    assert body["batch"]["customers"]["updated"] == "1"
    assert customer(client, "C1", strict["id"])["first_name"] == "ByCard"


def test_a_card_number_of_another_customer_is_a_line_error(client: TestClient, strict) -> None:
    fields = batch(["code", "card_number"], "C2|9001\nC3|9003\n", overwrite_duplicates="update")
    body = xml(run(client, strict, **fields))
    assert body["batch"]["@status"] == "partially_imported"
    assert body["batch"]["customers"]["new"] == "1"
    error = body["batch"]["errors"]["error"]
    assert error["line"] == "1" and "already belongs to customer C1" in error["message"]
    assert missing(client, "C2", strict["id"])


def test_no_code_gets_a_unique_16_digit_id_in_the_response(client: TestClient, strict) -> None:
    fields = batch(["first_name"], "Ann\nBob\n")
    generated = xml(run(client, strict, **fields))["batch"]["generated"]["customer"]
    codes = [g["code"] for g in generated]
    assert [g["line"] for g in generated] == ["1", "2"]
    assert all(len(c) == 16 and c.isdigit() and c[0] != "0" for c in codes)
    assert len(set(codes)) == 2
    assert customer(client, codes[1], strict["id"])["first_name"] == "Bob"


def test_generated_ids_are_deterministic_per_seed(make_client) -> None:
    """Same seed, same tenant, same calls: same ids (a reset also resets the counters)."""

    def first_code(http: TestClient) -> str:
        fields = batch(["first_name"], "A\n", campaigns_to_include="898989889")
        return xml(post(http, **fields))["batch"]["generated"]["customer"]["code"]

    http = make_client(seed=7)
    code = first_code(http)
    assert first_code(http) != code
    assert http.post("/__admin/tenants/default/reset").status_code == 200
    assert first_code(http) == code
    http.post("/__admin/tenants/default/reset")
    assert first_code(make_client(seed=8)) != code


def test_card_number_generate_fills_blank_and_missing_cards(client: TestClient, strict) -> None:
    fields = batch(["code", "card_number"], "N1|\nN2|12345\n", card_number_generate="6")
    body = xml(run(client, strict, **fields))
    generated = body["batch"]["generated"]["customer"]
    assert generated["code"] == "N1" and len(generated["card_number"]) == 6
    assert customer(client, "N1", strict["id"])["card_number"] == generated["card_number"]
    assert customer(client, "N2", strict["id"])["card_number"] == "12345"
    for bad in ("x", "2", "40"):
        response = run(client, strict, **batch(["code"], "N9\n", card_number_generate=bad))
        assert response.status_code == 400
        assert "card_number_generate" in xml(response)["error"]


def test_generated_card_numbers_never_collide(client: TestClient, strict) -> None:
    data = "".join(f"G{i}|\n" for i in range(300))
    body = xml(run(client, strict, **batch(["code", "card_number"], data, card_number_generate=4)))
    cards = [g["card_number"] for g in body["batch"]["generated"]["customer"]]
    assert len(cards) == 300 and len(set(cards)) == 300
    assert "9001" not in cards


def test_campaigns_to_include_separators_and_errors(client: TestClient) -> None:
    fields = batch(["code"], "X1\n", campaigns_to_include=" 898989889 , 13234545|,|34534554")
    xml(post(client, **fields))
    assert {b["campaign_id"] for b in customer(client, "X1")["balances"]} == {
        "898989889",
        "13234545",
        "34534554",
    }
    for value, message in (("", "Missing campaigns_to_include"), ("898989889,42", "42")):
        response = post(client, **batch(["code"], "X2\n", campaigns_to_include=value))
        assert response.status_code == 400
        assert message in xml(response)["error"]
    assert missing(client, "X2")


def test_auto_add_credits_the_first_campaign_in_its_unit(client: TestClient, strict) -> None:
    fields = batch(["code", "auto_add"], "A1|25\nA2|\n", campaigns_to_include="100,200")
    xml(run(client, strict, **fields))
    assert balance(client, "A1", "100", tenant_id=strict["id"]) == 25
    assert balance(client, "A1", "200", tenant_id=strict["id"]) == 0
    assert balance(client, "A2", "100", tenant_id=strict["id"]) == 0
    history = customer(client, "A1", strict["id"])["transactions"]
    assert [(t["campaign_id"], t["value"], t["authorization"]) for t in history] == [
        ("100", 25, "auto_add")
    ]
    buyx = batch(["code", "auto_add"], "B1|coffees\nB2|Tea\n", campaigns_to_include="300")
    body = xml(run(client, strict, **buyx))
    assert balance(client, "B1", "300", "Coffees", tenant_id=strict["id"]) == 1
    assert "unknown product 'Tea'" in body["batch"]["errors"]["error"]["message"]


def test_custom_date_must_be_yyyy_mm_dd(client: TestClient, strict) -> None:
    data = "D1|1970-07-14\nD2|04-03-2010\nD3|2010-02-30\n"
    body = xml(run(client, strict, **batch(["code", "custom_date"], data)))
    assert body["batch"]["customers"]["new"] == "1"
    errors = body["batch"]["errors"]["error"]
    assert [e["line"] for e in errors] == ["2", "3"]
    assert "YYYY-MM-DD" in errors[0]["message"]
    assert customer(client, "D1", strict["id"])["custom_date"] == "1970-07-14"


def test_custom_fields_and_their_choices(client: TestClient, strict) -> None:
    data = "F1|gold\nF2|Purple\n"
    body = xml(run(client, strict, **batch(["code", "custom_field_1"], data)))
    assert body["batch"]["customers"]["new"] == "1"
    assert "Purple" in body["batch"]["errors"]["error"]["message"]
    assert customer(client, "F1", strict["id"])["custom_field_1"] == "gold"
    undeclared = run(client, strict, **batch(["code", "custom_field_7"], "F3|x\n"))
    assert undeclared.status_code == 400
    assert "profiles_header_2 (custom_field_7)" in xml(undeclared)["error"]


def test_unknown_header_is_an_error_naming_it(client: TestClient, strict) -> None:
    response = run(client, strict, **batch(["code", "custome_date"], "U1|1970-01-01\n"))
    assert response.status_code == 400
    assert xml(response)["error"] == "Unknown field name in profiles_header_2 (custome_date)"
    assert missing(client, "U1", strict["id"])


def test_header_numbering_may_skip_one_but_not_two(client: TestClient, strict) -> None:
    one_gap = batch(["code"], "S1|ignored|Sam\n")
    one_gap["profiles_header_3"] = "first_name"
    assert xml(run(client, strict, **one_gap))["batch"]["customers"]["new"] == "1"
    assert customer(client, "S1", strict["id"])["first_name"] == "Sam"
    two_gaps = batch(["code"], "S2|a|b|Sue\n")
    two_gaps["profiles_header_4"] = "first_name"
    response = run(client, strict, **two_gaps)
    assert response.status_code == 400
    assert "profiles_header_2, profiles_header_3" in xml(response)["error"]
    no_header = run(client, strict, **{**batch([], "S3\n")})
    assert "profiles_header_1" in xml(no_header)["error"]
    duplicate = run(client, strict, **batch(["code", "Code"], "S4|S4\n"))
    assert "Duplicate header" in xml(duplicate)["error"]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_line_endings_and_blank_lines(client: TestClient, strict, end: str) -> None:
    data = end + end.join(["L1|One", "", "  ", "L2|Two"]) + end + end
    body = xml(run(client, strict, **batch(["code", "first_name"], data)))
    assert body["batch"]["customers"]["new"] == "2"
    assert customer(client, "L2", strict["id"])["first_name"] == "Two"


def test_comma_delimiter_with_quoted_fields(client: TestClient, strict) -> None:
    data = 'Q1,"Smith, Jr.","12 Main St\nFlat 2"\r\nQ2,Plain,Road\n'
    fields = batch(["code", "last_name", "street1"], data, delimiter="comma")
    assert xml(run(client, strict, **fields))["batch"]["customers"]["new"] == "2"
    q1 = customer(client, "Q1", strict["id"])
    assert q1["last_name"] == "Smith, Jr." and q1["street1"] == "12 Main St\nFlat 2"


def test_tab_delimiter_and_short_lines(client: TestClient, strict) -> None:
    fields = batch(["code", "first_name", "last_name"], "T1\tTina\nT2\n", delimiter="tab")
    assert xml(run(client, strict, **fields))["batch"]["customers"]["new"] == "2"
    assert customer(client, "T1", strict["id"])["last_name"] == ""


def test_too_many_values_is_a_line_error(client: TestClient, strict) -> None:
    body = xml(run(client, strict, **batch(["code"], "V1\nV2|extra\n")))
    assert body["batch"]["errors"]["error"]["message"] == "2 values for 1 header(s)"


def test_reject_mode_writes_nothing(client: TestClient, strict) -> None:
    before = snapshot(client, strict["id"])
    data = "R1|One\nR2|Two|\nC1|x\nR3|2010-13-01\n"
    fields = batch(["code", "first_name", "custom_date"], data, on_line_error="reject")
    fields["Profiles_Data"] = "R1|One|\nR2|Two|\nR3|Bad|2010-13-01\n"
    response = run(client, strict, **fields)
    assert response.status_code == 400
    body = xml(response)
    assert body["@status"] == "error"
    assert body["error"].startswith("Batch rejected: 1 line(s) with errors")
    assert body["errors"]["error"]["line"] == "3"
    assert snapshot(client, strict["id"]) == before


def test_a_batch_with_only_bad_lines_is_an_error(client: TestClient, strict) -> None:
    before = snapshot(client, strict["id"])
    response = run(client, strict, **batch(["code", "custom_date"], "Z1|nope\n"))
    assert response.status_code == 400
    assert xml(response)["error"].startswith("No customer imported")
    assert snapshot(client, strict["id"]) == before


def test_request_level_errors(client: TestClient, strict) -> None:
    without_data = batch(["code"], "")
    del without_data["Profiles_Data"]
    assert "Missing profiles_data" in xml(run(client, strict, **without_data))["error"]
    assert "No data lines" in xml(run(client, strict, **batch(["code"], "\n\n")))["error"]
    bad_mode = run(client, strict, **batch(["code"], "E1\n", on_line_error="maybe"))
    assert "on_line_error" in xml(bad_mode)["error"]
    too_long = xml(run(client, strict, **batch(["code"], "E" * 65 + "\n")))
    assert "longer than 64" in too_long["error"]


def test_duplicate_code_in_one_batch_updates_the_new_row(client: TestClient, strict) -> None:
    fields = batch(["code", "first_name"], "W1|One\nW1|Again\n", overwrite_duplicates="update")
    body = xml(run(client, strict, **fields))
    assert body["batch"]["customers"] == {"new": "1", "updated": "1", "skipped": "0"}
    assert customer(client, "W1", strict["id"])["first_name"] == "Again"
