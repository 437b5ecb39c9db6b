"""batch_transactions: the five campaign types, amounts, apply_ratio, balances never below
zero, dates on the tenant clock, kept fields, unknown customers, line errors and atomicity."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import balance, customer, missing, post, snapshot, xml

POINTS = ["campaign_id", "code", "redeemed", "amount", "date", "authorization", "promo_id"]
BUYX = ["campaign_id", "code", "redeemed", "service_product", "amount", "date", "authorization"]
EVENTS = ["campaign_id", "code", "redeemed", "date", "authorization", "amount"]
RATIO_POINTS = "4638472975924871"
PLAIN_POINTS = "1111222233334444"
GIFTCARD = "1234567890123456"
EVENTS_ID = "13234545"
EARNED = "22223333444455555"
BUYX_ID = "111234567890123456"


def batch(headers: list[str], data: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": "batch_transactions",
        "delimiter": "pipe",
        "Visits_Data": data,
    }
    fields.update({f"visits_header_{i}": name for i, name in enumerate(headers, 1)})
    fields.update(extra)
    return fields


def send(client: TestClient, headers: list[str], data: str, **extra: Any) -> dict[str, Any]:
    return xml(post(client, **batch(headers, data, **extra)))


@pytest.mark.parametrize(
    ("raw", "points"),
    [("14,95", 14.95), (".75", 0.75), ("0,50", 0.5), ("2.00", 2), ("50", 50), ("7.", None)],
)
def test_amounts_with_dot_or_comma_decimals(client: TestClient, raw: str, points) -> None:
    body = send(client, POINTS, f"{PLAIN_POINTS}|12121|N|{raw}|2010-03-15\n")
    if points is None:
        assert "Invalid amount" in body["error"]
        assert balance(client, "12121", PLAIN_POINTS) == 2000
    else:
        assert body["batch"]["@status"] == "all_imported"
        assert balance(client, "12121", PLAIN_POINTS) == round(2000 + points, 2)


def test_points_with_apply_ratio(client: TestClient) -> None:
    data = f"{RATIO_POINTS}|12121|N|10|\n{RATIO_POINTS}|12121|Y|417|\n{RATIO_POINTS}|12121|Y|156739948736|\n"
    body = send(client, POINTS, data, apply_ratio="yes")
    # 1000 + 10 EUR x 5 = 1050; reward 417 costs 1500 points: refused; then by reward_id too
    assert body["batch"]["transactions"] == "1"
    errors = body["batch"]["errors"]["error"]
    assert [e["line"] for e in errors] == ["2", "3"]
    assert "Insufficient balance: customer 12121 has 1050" in errors[0]["message"]
    assert "needs 1500" in errors[0]["message"]
    body = send(client, POINTS, f"{RATIO_POINTS}|11112222|Y|356|\n", apply_ratio="yes")
    assert body["batch"]["@status"] == "all_imported"  # card number as `code`, 1000 points
    assert balance(client, "12121", RATIO_POINTS) == 50
    unknown = send(client, POINTS, f"{RATIO_POINTS}|12121|Y|999|\n", apply_ratio="yes")
    assert "Unknown reward '999'" in unknown["error"]


def test_apply_ratio_needs_a_ratio(client: TestClient) -> None:
    body = send(client, POINTS, f"{PLAIN_POINTS}|12121|N|10|\n", apply_ratio="yes")
    assert "has no points ratio" in body["error"]


def test_redemption_never_goes_below_zero(client: TestClient) -> None:
    body = send(client, POINTS, f"{PLAIN_POINTS}|12121|Y|1500|\n{PLAIN_POINTS}|12121|Y|600|\n")
    assert body["batch"]["transactions"] == "1"
    assert "has 500" in body["batch"]["errors"]["error"]["message"]
    assert balance(client, "12121", PLAIN_POINTS) == 500
    exact = send(client, POINTS, f"{PLAIN_POINTS}|12121|Y|500|\n")
    assert exact["batch"]["@status"] == "all_imported"
    assert balance(client, "12121", PLAIN_POINTS) == 0


def test_giftcard_ignores_apply_ratio(client: TestClient) -> None:
    send(client, POINTS, f"{GIFTCARD}|12121|N|9,95|\n{GIFTCARD}|12121|Y|100|\n", apply_ratio="yes")
    assert balance(client, "12121", GIFTCARD) == 9.95


def test_events_redeem_by_reward_with_apply_ratio(client: TestClient) -> None:
    body = send(client, EVENTS, f"{EVENTS_ID}|12121|Y||redeem|41\n", apply_ratio="yes")
    assert body["batch"]["@status"] == "all_imported"
    assert balance(client, "12121", EVENTS_ID) == 2  # 12 - reward 41 (10 events)
    missing_amount = send(client, EVENTS, f"{EVENTS_ID}|12121|Y||redeem|\n")
    assert "Missing amount" in missing_amount["error"]


def test_earned_converts_events_to_money_with_apply_ratio(client: TestClient) -> None:
    send(client, EVENTS, f"{EARNED}|12121|N|||3\n", apply_ratio="yes")
    assert balance(client, "12121", EARNED) == 64.85  # 50 + 3 x 4.95
    send(client, EVENTS, f"{EARNED}|12121|N|||10\n")  # without ratio: money
    assert balance(client, "12121", EARNED) == 74.85


def test_buyx_redeems_items_by_ratio_and_checks_products(client: TestClient) -> None:
    send(client, BUYX, f"{BUYX_ID}|12121|N|96|6||\n")  # item by id: Coffees
    assert balance(client, "12121", BUYX_ID, "Coffees") == 11
    body = send(client, BUYX, f"{BUYX_ID}|12121|Y|Coffees|1||\n", apply_ratio="yes")
    assert body["batch"]["@status"] == "all_imported"
    assert balance(client, "12121", BUYX_ID, "Coffees") == 1  # one free coffee = 10 items
    bad = send(client, BUYX, f"{BUYX_ID}|12121|N|Tea|1||\n{BUYX_ID}|12121|N||1||\n")
    assert "Unknown service_product 'Tea'" in bad["errors"]["error"][0]["message"]
    assert "Missing service_product" in bad["errors"]["error"][1]["message"]


def test_blank_date_is_today_on_the_tenant_clock(client: TestClient) -> None:
    client.put(
        "/__admin/tenants/default/clock", json={"now": "2031-02-03T23:30:00Z", "frozen": True}
    )
    send(client, POINTS, f"{PLAIN_POINTS}|12121|N|1||\n{PLAIN_POINTS}|12121|N|1|03/15/2010|\n")
    dates = [t["date"] for t in customer(client, "12121")["transactions"]]
    assert dates == ["2031-02-03", "2010-03-15"]
    for bad in ("2010-02-30", "15.03.2010", "2010-3-15"):
        body = send(client, POINTS, f"{PLAIN_POINTS}|12121|N|1|{bad}|\n")
        assert f"Invalid date '{bad}'" in body["error"]


def test_authorization_promo_id_and_email_flag_are_kept(client: TestClient) -> None:
    send(
        client,
        POINTS,
        f"{PLAIN_POINTS}|12121|N|5|2010-03-15|Till 4|P1,P2\n",
        send_transaction_email="Y",
    )
    send(client, POINTS, f"{PLAIN_POINTS}|12121|N|5|2010-03-15||\n")
    first, second = customer(client, "12121")["transactions"]
    assert (first["authorization"], first["promo_id"]) == ("Till 4", "P1,P2")
    assert first["send_transaction_email"] is True
    assert second["send_transaction_email"] is False


def test_unknown_customers_are_created_only_when_asked(client: TestClient) -> None:
    refused = send(client, POINTS, f"{PLAIN_POINTS}|NEW1|N|5||\n")
    assert "Unknown customer code NEW1" in refused["error"]
    assert missing(client, "NEW1")
    created = send(
        client,
        POINTS,
        f"{PLAIN_POINTS}|NEW1|N|5||\n{PLAIN_POINTS}|NEW1|N|1||\n",
        create_new_customers="Y",
    )
    assert created["batch"]["transactions"] == "2"
    assert created["batch"]["new_customers"] == "1"
    assert balance(client, "NEW1", PLAIN_POINTS) == 6


def test_line_errors_per_line_and_headers(client: TestClient) -> None:
    data = "\n".join(
        [
            f"{PLAIN_POINTS}|12121|N|5||",
            "999|12121|N|5||",
            f"{PLAIN_POINTS}||N|5||",
            f"{PLAIN_POINTS}|12121|maybe|5||",
            f"{PLAIN_POINTS}|12121|N|||",
            f"{PLAIN_POINTS}|12121|N|5||||extra",
        ]
    )
    body = send(client, POINTS, data)
    assert body["batch"]["@status"] == "partially_imported"
    assert body["batch"]["error_count"] == "5"
    messages = [e["message"] for e in body["batch"]["errors"]["error"]]
    assert messages == [
        "Unknown campaign_id 999",
        "Missing code",
        "Invalid redeemed 'maybe' (expected Y or N)",
        "Missing amount",
        "8 values for 7 header(s)",
    ]


def test_request_errors(client: TestClient) -> None:
    missing_header = send(client, ["campaign_id", "code"], "1|2\n")
    assert missing_header["error"] == "Missing header(s): redeemed"
    unknown = send(client, ["campaign_id", "code", "redeemed", "amout"], "1|2|N|3\n")
    assert unknown["error"] == "Unknown field name in visits_header_4 (amout)"
    no_data = batch(POINTS, "")
    del no_data["Visits_Data"]
    assert xml(post(client, **no_data))["error"] == "Missing Visits_Data"
    assert (
        "Invalid value for apply_ratio" in send(client, POINTS, "x\n", apply_ratio="maybe")["error"]
    )


def test_reject_mode_writes_nothing(client: TestClient) -> None:
    before = snapshot(client)
    data = f"{PLAIN_POINTS}|12121|N|5||\n{PLAIN_POINTS}|NOBODY|N|5||\n"
    response = post(client, **batch(POINTS, data, on_line_error="reject"))
    assert response.status_code == 400
    body = xml(response)
    assert body["error"].startswith("Batch rejected: 1 line(s) with errors")
    assert body["errors"]["error"]["line"] == "2"
    assert snapshot(client) == before


def test_only_bad_lines_writes_nothing(client: TestClient) -> None:
    before = snapshot(client)
    response = post(client, **batch(POINTS, f"{PLAIN_POINTS}|12121|Y|99999||\n"))
    assert response.status_code == 400
    assert xml(response)["error"].startswith("No transaction imported")
    assert snapshot(client) == before


def test_comma_delimiter_with_quoted_promo_ids(client: TestClient) -> None:
    data = f'{PLAIN_POINTS},12121,N,"1,5",2010-03-15,"Till, 4","A,B"\r\n'
    body = send(client, POINTS, data, delimiter="comma")
    assert body["batch"]["@status"] == "all_imported"
    last = customer(client, "12121")["transactions"][-1]
    assert (last["value"], last["authorization"], last["promo_id"]) == (1.5, "Till, 4", "A,B")


def test_json_output_of_a_partial_batch(client: TestClient) -> None:
    data = f"{PLAIN_POINTS}|12121|N|5||\n{PLAIN_POINTS}|12121|N|x||\n"
    response = post(client, **batch(POINTS, data, output="JSON"))
    assert response.json() == {
        "status": "success",
        "batch": {
            "status": "partially_imported",
            "transactions": 1,
            "error_count": 1,
            "errors": {"error": [{"line": 2, "message": "Invalid amount 'x'"}]},
        },
    }
