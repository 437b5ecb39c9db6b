"""Batches larger than every internal chunk (500-value lookups, 1,000-row statements):
the counts, the state and the undo stay exact. Not timed (speed is in bench/)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import balance, post, snapshot, xml

LINES = 2_500


def test_large_customers_and_transactions_batches_and_their_undo(client: TestClient) -> None:
    before = snapshot(client)
    profiles = "\r\n".join(f"L{i}|Name{i}|{i % 7}" for i in range(LINES))
    first = xml(
        post(
            client,
            type="customers_batch",
            delimiter="pipe",
            overwrite_duplicates="update",
            campaigns_to_include="4638472975924871",
            card_number_generate=8,
            profiles_header_1="code",
            profiles_header_2="first_name",
            profiles_header_3="auto_add",
            Profiles_Data=profiles + "\r\n12121|Amy|\r\n",
        )
    )
    assert first["batch"]["customers"] == {"new": str(LINES), "updated": "1", "skipped": "0"}
    cards = {g["card_number"] for g in first["batch"]["generated"]["customer"]}
    assert len(cards) == LINES
    visits = "\n".join(f"4638472975924871|L{i}|N|{i % 3},5|2010-03-15" for i in range(LINES))
    visits += "\n4638472975924871|L1|Y|100|\n"  # L1 has 1 + 1.5 points: refused
    second = xml(
        post(
            client,
            type="batch_transactions",
            delimiter="pipe",
            visits_header_1="campaign_id",
            visits_header_2="code",
            visits_header_3="redeemed",
            visits_header_4="amount",
            visits_header_5="date",
            **{"allow-undo": "yes"},
            Visits_Data=visits,
        )
    )
    assert second["batch"]["transactions"] == str(LINES)
    assert second["batch"]["errors"]["error"]["line"] == str(LINES + 1)
    assert balance(client, "L2000", "4638472975924871") == 2000 % 7 + 2000 % 3 + 0.5
    undo = "/__admin/tenants/default/clienttoolbox/undo-states"
    assert (
        client.post(f"{undo}/{second['batch']['undo_state']}/undo").json()["transactionsRemoved"]
        == LINES
    )
    assert (
        client.post(f"{undo}/{first['batch']['undo_state']}/undo").json()["customersRemoved"]
        == LINES
    )
    assert snapshot(client) == before
