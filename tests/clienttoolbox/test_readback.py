"""Read-back calls: customer fields, campaigns, rewards, customer find/search, balances report.
What a batch writes, these calls read."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import as_json, post, xml


def call(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = post(client, output="JSON", **fields)
    return as_json(response) | {"_status": response.status_code}


def test_manage_fields_list(client: TestClient) -> None:
    body = xml(post(client, type="manage_fields", action="list"))
    assert body["account"]["account_id"] == "sandbox"
    fields = body["account"]["fields"]["field"]
    names = [f["name"] for f in fields]
    assert names[:2] == ["card_number", "code"]
    assert names[-3:] == ["custom_field_1", "custom_field_2", "custom_field_3"]
    marital = fields[-3]
    assert marital["label"] == "Marital Status" and marital["type"] == "List"
    assert marital["choices"]["choice"] == ["Single", "Married", "Divorced", "Widowed"]
    assert fields[-1]["show"] == "N"
    for action in ("", "delete"):
        response = post(client, type="manage_fields", action=action)
        assert response.status_code == 400
        assert "action" in xml(response)["error"]


def test_campaigns_list_filters_sort_and_paging(client: TestClient) -> None:
    every = call(client, type="campaigns_list")["campaigns"]["campaign"]
    assert len(every) == 8
    points = every[[c["id"] for c in every].index("4638472975924871")]
    assert points == {
        "id": "4638472975924871",
        "name": "Widget Points",
        "type": "points",
        "points_ratio": 5,
        "reward_ratio": 15,
        "currency": "EUR",
        "glyph": "€",
        "created_stamp": "2011-11-05 10:26:11",
    }
    restricted = call(client, type="campaigns_list", type_restrict="giftcard, buyx")
    assert {c["type"] for c in restricted["campaigns"]["campaign"]} == {"giftcard", "buyx"}
    searched = call(
        client,
        type="campaigns_list",
        searchField="campaign_name",
        searchOper="cn",
        searchValue="points",
        sortField="campaign_name",
        sortOrder="DESC",
    )
    assert [c["name"] for c in searched["campaigns"]["campaign"]] == [
        "Widget Points",
        "Welcome Points",
        "Classic Points",
    ]
    page = call(client, type="campaigns_list", sortField="campaign_id", offset=2, length=2)
    assert [c["id"] for c in page["campaigns"]["campaign"]] == [c["id"] for c in every[2:4]]
    for bad in (
        {"type_restrict": "coupons"},
        {"searchField": "owner"},
        {"searchField": "campaign_id", "searchOper": "like"},
        {"sortOrder": "UP"},
        {"offset": "-1"},
    ):
        response = call(client, type="campaigns_list", **bad)
        assert response["_status"] == 400 and response["status"] == "error", bad


def test_campaign_rewards_needs_a_known_campaign(client: TestClient) -> None:
    assert "Missing campaign_id" in xml(post(client, type="campaign_rewards"))["error"]
    assert "Unknown" in xml(post(client, type="campaign_rewards", campaign_id="1"))["error"]
    empty = xml(post(client, type="campaign_rewards", campaign_id="34534554"))
    assert empty["rewards"] is None  # <rewards></rewards>


def test_customer_find_and_or_partial(client: TestClient) -> None:
    def codes(query: str) -> list[str]:
        found = call(client, type="customer_find", find_customer=query)
        return [c["code"] for c in found["customers"]["customer"]]

    assert codes("amy 1234 main") == ["12121"]
    assert codes("amy mcdoe") == []
    assert codes("amy, MCDOE") == ["12121", "22334455"]
    assert codes("1111") == ["12121"]  # partial card number
    assert codes("married") == ["12121"]  # custom fields are searched too
    assert codes("100%") == []
    missing = post(client, type="customer_find")
    assert missing.status_code == 400 and "find_customer" in xml(missing)["error"]


def search_codes(client: TestClient, **filters: Any) -> list[str]:
    """The codes customer_search finds with these filters."""
    found = call(client, type="customer_search", **filters)
    return [c["code"] for c in found["customers"]["customer"]]


def import_customers(client: TestClient, **columns: str) -> Callable[[str], None]:
    """A customers_batch of these columns (comma-separated lines), updating duplicates."""

    def send(lines: str) -> None:
        post(
            client,
            type="customers_batch",
            delimiter="comma",
            overwrite_duplicates="update",
            campaigns_to_include="898989889",
            Profiles_Data=lines,
            **columns,
        )

    return send


def test_customer_search_and_balances_read_what_a_batch_wrote(client: TestClient) -> None:
    headers = ("code", "first_name", "city", "auto_add")
    columns = {f"profiles_header_{n}": name for n, name in enumerate(headers, 1)}
    import_customers(client, **columns)("N1,Johnny,Paris,30\nN2,John,paris,\n")

    codes = functools.partial(search_codes, client)

    assert codes(first_name="john") == ["N1", "N2"]
    assert codes(first_name="john", exact_match="insensitive") == ["N2"]
    assert codes(city="paris", exact_match="sensitive") == ["N2"]
    assert codes(custom_field_2="down") == ["22334455"]
    assert len(codes()) == 4
    with_balances = call(client, type="customer_search", first_name="Johnny", include_balances="Y")[
        "customers"
    ]["customer"][0]
    assert with_balances["balances"]["balance"] == [{"campaign_id": "898989889", "balance": 30}]
    assert (
        "balances"
        not in call(client, type="customer_search", first_name="Johnny")["customers"]["customer"][0]
    )
    bad = post(client, type="customer_search", exact_match="fuzzy")
    assert bad.status_code == 400


def test_customers_balances_report_pages(client: TestClient) -> None:
    data = "".join(f"P{i}|{i}\n" for i in range(5))
    post(
        client,
        type="customers_batch",
        delimiter="pipe",
        campaigns_to_include="898989889",
        profiles_header_1="code",
        profiles_header_2="auto_add",
        Profiles_Data=data,
    )
    report = call(
        client,
        type="reports",
        report="customers_balances",
        campaign_id="898989889",
        offset=2,  # after 22334455 and P0 (ordered by code)
        limit=3,
    )
    assert report["campaign"] == {"id": "898989889", "type": "points"}
    assert report["total"] == 6
    assert [(c["code"], c["balance"]) for c in report["customers"]["customer"]] == [
        ("P1", 1),
        ("P2", 2),
        ("P3", 3),
    ]
    rest = call(
        client, type="reports", report="customers_balances", campaign_id="898989889", offset=4
    )
    assert [c["code"] for c in rest["customers"]["customer"]] == ["P3", "P4"]
    for bad in ({"report": "customers_search"}, {}, {"report": "customers_balances"}):
        assert call(client, type="reports", **bad)["_status"] == 400


def test_paging_values_are_ascii_digits_within_64_bits(client: TestClient) -> None:
    report = {"type": "reports", "report": "customers_balances", "output": "JSON"}
    report["campaign_id"] = "4638472975924871"
    for name in ("offset", "limit"):
        for bad in ("9223372036854775808", "²", "1e3", "-1"):
            response = post(client, **report, **{name: bad})
            assert response.status_code == 400, (name, bad, response.text)
            assert as_json(response)["status"] == "error"
    ok = post(client, **report, offset="9223372036854775807", limit="5")
    assert as_json(ok)["status"] == "success"
    listing = post(client, type="campaigns_list", offset="²", output="JSON")
    assert listing.status_code == 400


def test_an_amount_beyond_the_range_is_a_line_error(client: TestClient) -> None:
    response = post(
        client,
        type="batch_transactions",
        delimiter="pipe",
        on_line_error="reject",
        visits_header_1="campaign_id",
        visits_header_2="code",
        visits_header_3="redeemed",
        visits_header_4="amount",
        Visits_Data="4638472975924871|12121|N|9999999999999999\n",
        output="JSON",
    )
    assert response.status_code == 400
    assert "at most 1e+15" in response.text


def test_seventy_thousand_campaigns_to_include_are_looked_up(client: TestClient) -> None:
    ids = ",".join(str(900_000 + i) for i in range(70_000))
    response = post(
        client,
        type="customers_batch",
        delimiter="pipe",
        campaigns_to_include=f"4638472975924871,{ids}",
        profiles_header_1="code",
        Profiles_Data="many-1\n",
        output="JSON",
    )
    assert response.status_code == 400, response.text
    assert "900000" in as_json(response)["error"]


def test_customer_search_takes_like_wildcards_literally(client: TestClient) -> None:
    import_customers(client, profiles_header_1="code", profiles_header_2="first_name")(
        "W1,100% Jo_hn\nW2,Jo hn\n"
    )

    codes = functools.partial(search_codes, client)

    assert codes(first_name="%") == ["W1"]
    assert codes(first_name="jo_h") == ["W1"]
    assert codes(first_name="Jo_hn", exact_match="sensitive") == []
    assert codes(first_name="100% jo_hn", exact_match="insensitive") == ["W1"]
    assert codes(first_name="o\\") == []
