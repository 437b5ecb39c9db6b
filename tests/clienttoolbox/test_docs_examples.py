"""The docs' own PHP examples and data tables, run verbatim against the default tenant
(only the credentials differ: the default tenant's, as the README says)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import balance, customer, post, xml

# customers_batch: the $data array of "Example PHP Request" (customer_batch_1.5).
CUSTOMERS_EXAMPLE = {
    "type": "customers_batch",
    "delimiter": "pipe",
    "overwrite_duplicates": "update",
    "campaigns_to_include": "898989889|,|13234545|,|34534554",
    "profiles_header_1": "code",
    "profiles_header_2": "card_number",
    "profiles_header_3": "first_name",
    "profiles_header_4": "last_name",
    "profiles_header_5": "custome_date",
    "profiles_header_6": "phone",
    "Profiles_Data": """
11223344|11223344|jane|doe|1970-07-14|555-5555
22334455|22334455|jim|mcdoe|1966-07-28|555-5556
33445566|33445566|larry|smith|1980-02-05|555-5557
""",
}

# batch_transactions: the $data array of "Example PHP Request for Points-Based Campaign".
TRANSACTIONS_EXAMPLE = {
    "type": "batch_transactions",
    "delimiter": "pipe",
    "apply_ratio": "yes",
    "allow-undo": "yes",
    "visits_header_1": "campaign_id",
    "visits_header_2": "code",
    "visits_header_3": "redeemed",
    "visits_header_4": "amount",
    "visits_header_5": "date",
    "visits_header_6": "custom_field_3",
    "Visits_Data": """
4638472975924871|12121|N|14,95|2010-03-15|API test import 1
4638472975924871|12121|N|50|2010-03-15|API test import 2
4638472975924871|12121|N|34.67|2010-03-15|API test import 3
4638472975924871|12121|N|0,50|2010-03-15|API test import 4
4638472975924871|12121|N|.75|2010-03-15|API test import 5
4638472975924871|12121|N|2.00|2010-03-15|API test import 6
4638472975924871|12121|Y|1500|2010-03-15|API test redeem 1
""",
}


def test_customers_batch_example_answers_the_documented_response(client: TestClient) -> None:
    response = post(client, **CUSTOMERS_EXAMPLE)
    assert response.status_code == 200
    body = xml(response)
    assert body["@status"] == "success"
    assert body["batch"]["@status"] == "imported"
    assert body["batch"]["customers"]["new"] == "2"
    assert body["batch"]["customers"]["updated"] == "1"
    # The misspelt header of the example is listed back, not silently dropped.
    assert body["batch"]["ignored_headers"]["header"] == "profiles_header_5 (custome_date)"
    jane = customer(client, "11223344")
    assert (jane["first_name"], jane["last_name"], jane["phone"]) == ("jane", "doe", "555-5555")
    assert jane["card_number"] == "11223344"
    assert {b["campaign_id"] for b in jane["balances"]} == {"898989889", "13234545", "34534554"}
    jim = customer(client, "22334455")
    assert jim["first_name"] == "jim"  # updated
    assert jim["email"] == "jim@example.com"  # update keeps the fields not given
    assert balance(client, "22334455", "898989889") == 40  # balances untouched


def test_customers_batch_example_with_card_number_generate(client: TestClient) -> None:
    fields = {**CUSTOMERS_EXAMPLE, "card_number_generate": 10}
    fields["profiles_header_2"] = "email"  # no card numbers given: they are generated
    fields["Profiles_Data"] = "\n55550001|a@example.com|ann|one|x|1\n55550002||bob|two|x|2\n"
    body = xml(post(client, **fields))
    generated = body["batch"]["generated"]["customer"]
    assert [g["code"] for g in generated] == ["55550001", "55550002"]
    cards = [g["card_number"] for g in generated]
    assert all(len(c) == 10 and c.isdigit() for c in cards)
    assert len(set(cards)) == 2
    assert customer(client, "55550001")["card_number"] == cards[0]


def test_transactions_example_answers_all_imported_and_applies_the_ratio(
    client: TestClient,
) -> None:
    response = post(client, "/api.php", **TRANSACTIONS_EXAMPLE)
    assert response.status_code == 200
    body = xml(response)
    assert body["@status"] == "success"
    assert body["batch"]["@status"] == "all_imported"
    assert body["batch"]["transactions"] == "7"
    # 1000 + (14.95 + 50 + 34.67 + 0.50 + 0.75 + 2.00) x 5 points - reward 1500 (500 points)
    assert balance(client, "12121", "4638472975924871") == 1014.35
    history = customer(client, "12121")["transactions"]
    assert [t["value"] for t in history] == [74.75, 250, 173.35, 2.5, 3.75, 10, -500]
    assert history[0]["custom_fields"] == {"custom_field_3": "API test import 1"}
    assert history[0]["date"] == "2010-03-15"
    assert history[-1]["redeemed"] is True


def test_points_data_table_imports_six_lines_and_reports_the_bad_date(
    client: TestClient,
) -> None:
    """The points table of the docs: line 1 has the date `2013-0315`, a line error."""
    fields = {
        "type": "batch_transactions",
        "delimiter": "pipe",
        **{
            f"visits_header_{i}": n
            for i, n in enumerate(
                ["campaign_id", "code", "redeemed", "amount", "date", "authorization", "promo_id"],
                1,
            )
        },
        "Visits_Data": """1111222233334444|12121|N|14,95|2013-0315|API test import 1|123
1111222233334444|12121|N|50|2010-03-15|API test import 2|345,345,354
1111222233334444|12121|N|34.67|2010-03-15|API test import 3
1111222233334444|12121|N|0,50|2010-03-15|API test import 4
1111222233334444|12121|N|.75|2010-03-15|API test import 5
1111222233334444|12121|N|2.00|2010-03-15|API test import 6
1111222233334444|12121|Y|1500|2010-03-15|API test redeem 1
""",
    }
    body = xml(post(client, **fields))
    assert body["batch"]["@status"] == "partially_imported"
    assert body["batch"]["transactions"] == "6"
    assert body["batch"]["errors"]["error"]["line"] == "1"
    assert "2013-0315" in body["batch"]["errors"]["error"]["message"]
    # 2000 + 50 + 34.67 + 0.5 + 0.75 + 2 - 1500 (apply_ratio not given: amounts are points)
    assert balance(client, "12121", "1111222233334444") == 587.92
    promo = [t["promo_id"] for t in customer(client, "12121")["transactions"]]
    assert promo[0] == "345,345,354"


def table(campaign: str, headers: list[str], data: str) -> dict[str, str]:
    fields = {"type": "batch_transactions", "delimiter": "pipe", "Visits_Data": data}
    fields.update({f"visits_header_{i}": name for i, name in enumerate(headers, 1)})
    return {k: v.replace("1111222233334444", campaign) for k, v in fields.items()}


def test_giftcard_data_table(client: TestClient) -> None:
    fields = table(
        "1234567890123456",
        ["campaign_id", "code", "redeemed", "amount", "date", "authorization"],
        """1111222233334444|12121|N|14,95|2010-03-15|API test import 1
1111222233334444|12121|N|34.67|2010-03-15|API test import 2
1111222233334444|12121|Y|49.62|2010-03-15|API test redeem 1
""",
    )
    body = xml(post(client, **fields))
    assert body["batch"] == {"@status": "all_imported", "transactions": "3"}
    assert balance(client, "12121", "1234567890123456") == 100


def test_buyx_data_table(client: TestClient) -> None:
    fields = table(
        "111234567890123456",
        ["campaign_id", "code", "redeemed", "service_product", "amount", "date", "authorization"],
        """1111222233334444|12121|N|Coffees|3|2010-03-15|API test import 1
1111222233334444|12121|N|Cakes|1|2010-03-15|API test import 2
1111222233334444|12121|Y|Coffees|1|2010-03-15|API test redeem 1
""",
    )
    body = xml(post(client, **fields))
    assert body["batch"]["transactions"] == "3"
    assert balance(client, "12121", "111234567890123456", "Coffees") == 7  # 5 + 3 - 1
    assert balance(client, "12121", "111234567890123456", "Cakes") == 1


def test_events_data_tables(client: TestClient) -> None:
    headers = ["campaign_id", "code", "redeemed", "date", "authorization", "amount"]
    adds = "1111222233334444|12121|N|2010-03-15|API add event\n" * 2
    redeem = "1111222233334444|12121|Y|2010-03-15|API redeem|2 \n"
    for data in (adds, redeem):
        body = xml(post(client, **table("13234545", headers, data)))
        assert body["batch"]["@status"] == "all_imported"
    assert balance(client, "12121", "13234545") == 12  # 12 + 2 events - 2


def test_earn_per_event_data_tables(client: TestClient) -> None:
    headers = ["campaign_id", "code", "redeemed", "date", "authorization", "amount"]
    adds = "1111222233334444|12121|N|2010-03-15|API add event\n" * 2
    redeem = "1111222233334444|12121|Y|2010-03-15|API redeem|46.95 \n"
    for data in (adds, redeem):
        body = xml(post(client, **table("22223333444455555", headers, data)))
        assert body["batch"]["@status"] == "all_imported"
    assert balance(client, "12121", "22223333444455555") == 12.95  # 50 + 2 x 4.95 - 46.95
