"""The read calls' whole answers (status, content type, body bytes), recorded once from the
default fixtures plus a batch of awkward customers, so that a change in how they are computed
cannot change a byte of what a client receives. `read_bodies.<store>.json` holds the answers recorded on each store (they differ where the
stores do: PostgreSQL's lower() folds non-ASCII letters, SQLite's does not); a new case is
recorded by running this file with `SIM_RECORD_READ_BODIES=1` on each store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import CREDENTIALS, post

KEY = CREDENTIALS["user_api_key"]

# Customers whose fields hold LIKE's own characters, mixed case and non-ASCII letters.
AWKWARD_CUSTOMERS = (
    "Z1,Eve,100%,Paris\n"
    "Z2,EVELYN,a_b,Lyon\n"
    "Z3,Steve,back\\slash,Nice\n"
    "Z4,Ève,under_score,Brest\n"
    "Z5,Evê,50% off,Nantes\n"
)

READS: list[dict[str, Any]] = [
    # campaign_rewards
    {"type": "campaign_rewards", "campaign_id": "4638472975924871"},
    {"type": "campaign_rewards", "campaign_id": "4638472975924871", "output": "JSON"},
    {"type": "campaign_rewards", "campaign_id": " 4638472975924871 ", "output": "JSON"},
    {"type": "campaign_rewards", "campaign_id": "4638472975924871", "callback": "cb"},
    {"type": "campaign_rewards", "campaign_id": "34534554"},
    {"type": "campaign_rewards", "campaign_id": "1"},
    {"type": "campaign_rewards"},
    # campaigns_list
    {"type": "campaigns_list"},
    {"type": "campaigns_list", "output": "JSON"},
    {"type": "campaigns_list", "output": "JSON", "condensed": "yes"},
    {"type": "campaigns_list", "type_restrict": "giftcard, buyx"},
    {"type": "campaigns_list", "type_restrict": "POINTS"},
    {"type": "campaigns_list", "type_restrict": "nope"},
    {
        "type": "campaigns_list",
        "searchField": "campaign_name",
        "searchOper": "cn",
        "searchValue": "o",
    },
    {
        "type": "campaigns_list",
        "searchField": "campaign_type",
        "searchOper": "in",
        "searchValue": "points,earned",
    },
    {
        "type": "campaigns_list",
        "searchField": "create_date",
        "searchOper": "bw",
        "searchValue": "20",
    },
    {"type": "campaigns_list", "searchField": "campaign_id", "searchOper": "xx"},
    {"type": "campaigns_list", "searchField": "other"},
    {"type": "campaigns_list", "sortField": "campaign_name", "sortOrder": "desc"},
    {"type": "campaigns_list", "sortField": "create_date", "offset": "1", "length": "3"},
    {"type": "campaigns_list", "sortField": "nope"},
    {"type": "campaigns_list", "sortOrder": "up"},
    {"type": "campaigns_list", "offset": "-1"},
    # customer_find
    {"type": "customer_find", "find_customer": "eve"},
    {"type": "customer_find", "find_customer": "EVE", "output": "JSON"},
    {"type": "customer_find", "find_customer": "eve", "include_balances": "Y"},
    {"type": "customer_find", "find_customer": "amy 1234 main"},
    {"type": "customer_find", "find_customer": "amy, MCDOE"},
    {"type": "customer_find", "find_customer": "amy mcdoe"},
    {"type": "customer_find", "find_customer": "1111"},
    {"type": "customer_find", "find_customer": "married"},
    {"type": "customer_find", "find_customer": "100%"},
    {"type": "customer_find", "find_customer": "%"},
    {"type": "customer_find", "find_customer": "_"},
    {"type": "customer_find", "find_customer": "a_b"},
    {"type": "customer_find", "find_customer": "\\"},
    {"type": "customer_find", "find_customer": "k\\s"},
    {"type": "customer_find", "find_customer": "ève"},
    {"type": "customer_find", "find_customer": "Ève"},
    {"type": "customer_find", "find_customer": "eve paris, lyon, z3 nice"},
    {"type": "customer_find", "find_customer": "z"},
    {"type": "customer_find", "find_customer": " , ,"},
    {"type": "customer_find", "find_customer": ""},
    {"type": "customer_find"},
    # the envelope and the auth around every read
    {"type": "campaign_rewards", "campaign_id": "4638472975924871", "user_api_key": "wrong"},
    {"type": "campaign_rewards", "campaign_id": "4638472975924871", "user_id": ""},
    {"type": "campaigns_list", "account_id": "other", "output": "JSON"},
    {"type": "campaigns_list", "api": "9.9"},
    {"type": "campaigns_list", "api": "1.6"},
    {"type": ""},
    {"type": "nope"},
    {"type": "customer_find", "find_customer": "a\x01b"},
]


def answer(response: Any) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "content_type": response.headers.get("content-type"),
        "body": response.text,
    }


def read_answers(client: TestClient) -> list[dict[str, Any]]:
    written = post(
        client,
        type="customers_batch",
        delimiter="comma",
        overwrite_duplicates="update",
        campaigns_to_include="898989889",
        profiles_header_1="code",
        profiles_header_2="first_name",
        profiles_header_3="last_name",
        profiles_header_4="city",
        Profiles_Data=AWKWARD_CUSTOMERS,
    )
    assert written.status_code == 200, written.text
    answers = [{"fields": fields, **answer(post(client, **fields))} for fields in READS]
    # The same reads by GET with query fields, and with the key in the header.
    query = {**CREDENTIALS, "type": "campaign_rewards", "campaign_id": "4638472975924871"}
    answers.append({"fields": "GET", **answer(client.get("/", params=query))})
    header_only = {k: v for k, v in query.items() if k != "user_api_key"}
    by_header = client.post("/", data=header_only, headers={"api_access_key": KEY})
    answers.append({"fields": "header key", **answer(by_header)})
    return answers


def test_read_answers_are_the_recorded_ones(client: TestClient) -> None:
    answers = read_answers(client)
    store = client.app.state.engine.dialect.name
    recorded_file = Path(__file__).with_name(f"read_bodies.{store}.json")
    if os.environ.get("SIM_RECORD_READ_BODIES") == "1":
        recorded_file.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
    recorded = json.loads(recorded_file.read_text())
    assert len(answers) == len(recorded)
    for got, expected in zip(answers, recorded, strict=True):
        assert got == expected
