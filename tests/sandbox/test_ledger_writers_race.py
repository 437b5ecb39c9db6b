"""Every ledger writer, raced by two real processes on one store (a PostgreSQL schema when
SIM_TEST_DATABASE_URL is set, else one SQLite file): what a request answers is exactly what the
ledger holds afterwards, no write is lost, and no balance goes below zero.

Each round runs in a tenant of its own, 30 requests released at once, alternating between the
two processes (issue 19, item 1).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.sandbox.race import (
    Call,
    active_points,
    answered_loyalty,
    ledger_path,
    ledger_rows,
    race,
    talon_headers,
    written_rows,
)

ROUNDS = 5
RACERS = 30
START = 1000
COST = 100
EARNED = 200
PROFILE = "racer"
CARD = "RACE-CARD-1"
POINTS, CARDS = 1, 2  # the profile-based and the card-based program

Servers = tuple[LiveServer, LiveServer]


def deduct(program_id: int) -> dict:
    return {"deductLoyaltyPoints": {"programId": program_id, "value": COST, "name": "Redeem"}}


def talon_document(start: int = START) -> dict:
    opening = {"amount": START, "name": "Opening", "created": "2026-01-01T00:00:00Z"}
    return {
        "talonone": {
            "application": {"id": 1, "accountId": 1, "name": "Race shop", "currency": "EUR"},
            "campaigns": [
                {
                    "id": 1,
                    "name": "Redeem on close",
                    "features": ["loyalty"],
                    "rules": [
                        {
                            "title": "Redeem 100 points",
                            "conditions": [{"itemSku": "SKU-REDEEM"}],
                            "effects": [deduct(POINTS)],
                        }
                    ],
                },
                {
                    "id": 2,
                    "name": "Redeem with the card",
                    "features": ["loyalty"],
                    "rules": [
                        {
                            "title": "Redeem 100 card points",
                            "conditions": [{"itemSku": "SKU-CARD"}],
                            "effects": [deduct(CARDS)],
                        }
                    ],
                },
                {
                    "id": 3,
                    "name": "Earn",
                    "features": ["loyalty"],
                    "rules": [
                        {
                            "title": "Earn 200 points",
                            "conditions": [{"itemSku": "SKU-EARN"}],
                            "effects": [
                                {"addLoyaltyPoints": {"programId": POINTS, "value": EARNED}}
                            ],
                        }
                    ],
                },
                {
                    "id": 4,
                    "name": "Redeem by event",
                    "features": ["loyalty"],
                    "rules": [
                        {
                            "title": "Redeem 100 points on an event",
                            "conditions": [{"event": "redeem_points"}],
                            "effects": [deduct(POINTS)],
                        }
                    ],
                },
            ],
            "profiles": [{"integrationId": PROFILE}],
            "loyaltyPrograms": [
                {
                    "id": POINTS,
                    "name": "points",
                    "title": "Points",
                    "allowNegativeBalance": False,
                    "transactions": [{**opening, "amount": start, "profileId": PROFILE}]
                    if start
                    else [],
                },
                {
                    "id": CARDS,
                    "name": "cards",
                    "title": "Card points",
                    "cardBased": True,
                    "cards": [{"identifier": CARD, "status": "active", "profiles": [PROFILE]}],
                    "transactions": [{**opening, "cardIdentifier": CARD}],
                },
            ],
        }
    }


def close(session_id: str, sku: str, quantity: int = 1, card: bool = False) -> Call:
    session: dict[str, Any] = {
        "profileId": PROFILE,
        "state": "closed",
        "cartItems": [{"sku": sku, "quantity": quantity, "price": 10}],
    }
    if card:
        session["loyaltyCards"] = [CARD]
    return Call("PUT", f"/v2/customer_sessions/{session_id}", {"customerSession": session})


def check_ledger(
    server: LiveServer,
    tenant: dict,
    path: str,
    answered: list[tuple[str, str, float]],
    start: float,
) -> float:
    """The ledger holds one row per answered effect, of its value, and nothing else; its
    balance is what they add up to and never negative. Returns the balance."""
    rows = ledger_rows(server, tenant, path)
    assert sorted(written_rows(rows)) == sorted(answered)
    added = sum(value for _, kind, value in answered if kind == "addition")
    taken = sum(value for _, kind, value in answered if kind == "subtraction")
    balance = active_points(server, tenant, path)
    assert balance == start + added - taken >= 0
    return balance


@pytest.mark.parametrize("card", [False, True], ids=["profile", "card"])
def test_concurrent_closes_deduct_exactly_what_they_answer(
    two_servers: Servers, card: bool
) -> None:
    first, second = two_servers
    path = ledger_path(CARDS, card=CARD) if card else ledger_path(POINTS, PROFILE)
    sku = "SKU-CARD" if card else "SKU-REDEEM"
    for round_ in range(ROUNDS):
        tenant = first.new_tenant(talon_document())
        headers = talon_headers(tenant)
        ids = [f"race-{round_}-{i}" for i in range(RACERS)]
        calls = [close(session_id, sku, card=card) for session_id in ids]
        for call in calls:
            call.headers = headers
        responses = race(two_servers, calls)
        # Different sessions: the real API has no reason to refuse any of them.
        assert Counter(r.status_code for r in responses) == {200: RACERS}, [
            r.text for r in responses if r.status_code != 200
        ]
        answered = [
            effect
            for session_id, response in zip(ids, responses, strict=True)
            for effect in answered_loyalty(response, session_id)
        ]
        assert all(value == COST for _, _, value in answered)
        balance = check_ledger(second, tenant, path, answered, START)
        # Every close that got no deduction found the balance spent.
        assert len(answered) == START // COST and balance == 0, (round_, len(answered))
        # And each close counts in the profile's figures, none lost.
        profile = httpx.get(
            f"{first.url}/v1/customer_profiles/{PROFILE}/inventory",
            params={"profile": "true"},
            headers=headers,
        ).json()["profile"]
        assert (profile["closedSessions"], profile["totalSales"]) == (RACERS, RACERS * 10)


def test_concurrent_events_deduct_exactly_what_they_answer(two_servers: Servers) -> None:
    first, second = two_servers
    path = ledger_path(POINTS, PROFILE)
    for _ in range(ROUNDS):
        tenant = first.new_tenant(talon_document())
        body = {"profileId": PROFILE, "type": "redeem_points", "responseContent": ["event"]}
        calls = [
            Call("POST", "/v2/events?silent=no", body, headers=talon_headers(tenant))
            for _ in range(RACERS)
        ]
        responses = race(two_servers, calls)
        assert Counter(r.status_code for r in responses) == {200: RACERS}
        answered = [
            effect
            for response in responses
            for effect in answered_loyalty(response, f"event:{response.json()['event']['id']}")
        ]
        check_ledger(second, tenant, path, answered, START)
        assert len(answered) == START // COST


def test_returns_and_cancellations_racing_deductions(two_servers: Servers) -> None:
    """Earlier sessions that earned or spent points are cancelled or returned while new closes
    spend: every rollback and deduction answered is in the ledger, and the points run out
    without going below zero."""
    first, second = two_servers
    path = ledger_path(POINTS, PROFILE)
    for round_ in range(ROUNDS):
        tenant = first.new_tenant(talon_document(start=0))
        headers = talon_headers(tenant)
        answered = []
        earners = [f"earn-{round_}-{i}" for i in range(10)]
        spenders = [f"spend-{round_}-{i}" for i in range(5)]
        for sessions, sku, quantity in ((earners, "SKU-EARN", 2), (spenders, "SKU-REDEEM", 1)):
            calls = [close(s, sku, quantity) for s in sessions]
            for call in calls:
                call.headers = headers
            for session_id, response in zip(sessions, race(two_servers, calls), strict=True):
                assert response.status_code == 200, response.text
                answered += answered_loyalty(response, session_id)
        assert active_points(first, tenant, path) == 10 * EARNED - 5 * COST
        cancel = {"customerSession": {"state": "cancelled"}}
        give_back = {"return": {"returnedCartItems": [{"position": 0, "quantity": 1}]}}
        targets = (
            [(s, Call("PUT", f"/v2/customer_sessions/{s}", cancel)) for s in earners[:5]]
            + [
                (s, Call("POST", f"/v2/customer_sessions/{s}/returns", give_back))
                for s in earners[5:]
            ]
            + [(s, Call("PUT", f"/v2/customer_sessions/{s}", cancel)) for s in spenders]
        )
        closers = [f"race-{round_}-{i}" for i in range(RACERS - len(targets))]
        targets += [(s, close(s, "SKU-REDEEM")) for s in closers]
        # Interleaved, so rollbacks and deductions reach both processes at once.
        targets = targets[::2] + targets[1::2]
        for _, call in targets:
            call.headers = headers
        responses = race(two_servers, [call for _, call in targets])
        assert Counter(r.status_code for r in responses) == {200: RACERS}, [
            r.text for r in responses if r.status_code != 200
        ]
        for (session_id, _), response in zip(targets, responses, strict=True):
            answered += answered_loyalty(response, session_id)
        check_ledger(second, tenant, path, answered, 0)


def test_concurrent_manual_points(two_servers: Servers) -> None:
    """The admin's manual additions and subtractions: each answered row is in the ledger and
    the balance is what they add up to, never below zero."""
    first, second = two_servers
    path = ledger_path(POINTS, PROFILE)
    for _ in range(ROUNDS):
        tenant = first.new_tenant(talon_document())
        route = f"/__admin/tenants/{tenant['id']}/talonone/loyalty/programs/{POINTS}/points"
        entries = [
            {"profileId": PROFILE, "type": "subtraction", "amount": COST}
            if i % 5
            else {"profileId": PROFILE, "type": "addition", "amount": COST // 2}
            for i in range(RACERS)
        ]
        responses = race(two_servers, [Call("POST", route, entry) for entry in entries])
        answered = []
        for entry, response in zip(entries, responses, strict=True):
            if response.status_code == 200:
                row = response.json()
                assert row["type"] == entry["type"]
                answered.append((row["type"], row["amount"]))
            else:  # only a subtraction that found nothing left to take is refused
                assert (response.status_code, entry["type"]) == (400, "subtraction"), response.text
        rows = ledger_rows(second, tenant, path)
        manual = [(row["type"], row["amount"]) for row in rows if row["name"] != "Opening"]
        assert sorted(manual) == sorted(answered)
        added = sum(amount for kind, amount in answered if kind == "addition")
        taken = sum(amount for kind, amount in answered if kind == "subtraction")
        assert active_points(second, tenant, path) == START + added - taken >= 0


# --- ClientToolbox ----------------------------------------------------------------------------

CAMPAIGN = "5555000011112222"
CUSTOMER = "racer"
CT_DOCUMENT = {
    "clienttoolbox": {
        "account": {"name": "Race"},
        "campaigns": [{"id": CAMPAIGN, "name": "Race points", "type": "points"}],
        "customers": [{"code": CUSTOMER, "balances": [{"campaign": CAMPAIGN, "balance": START}]}],
    }
}


def batch(tenant: dict, redeemed: str, amount: int, undo: bool = False) -> dict[str, str]:
    fields = {
        "API": "1.5",
        **tenant["credentials"]["clienttoolbox"],
        "type": "batch_transactions",
        "delimiter": "pipe",
        "output": "JSON",
        "visits_header_1": "campaign_id",
        "visits_header_2": "code",
        "visits_header_3": "redeemed",
        "visits_header_4": "amount",
        "Visits_Data": f"{CAMPAIGN}|{CUSTOMER}|{redeemed}|{amount}",
    }
    if undo:
        fields["allow-undo"] = "yes"
    return fields


def customer(server: LiveServer, tenant: dict) -> dict:
    response = httpx.get(
        f"{server.url}/__admin/tenants/{tenant['id']}/clienttoolbox/customers/{CUSTOMER}"
    )
    assert response.status_code == 200, response.text
    return response.json()


def ct_balance_matches_its_transactions(server: LiveServer, tenant: dict) -> float:
    """The balance is the opening balance plus what the customer's transactions add up to."""
    found = customer(server, tenant)
    (balance,) = [b["balance"] for b in found["balances"] if b["campaign_id"] == CAMPAIGN]
    assert balance == START + sum(t["value"] for t in found["transactions"]) >= 0
    return balance


def redeemed_by(response: httpx.Response) -> int:
    """1 when the batch imported its redemption; 0 when refused for lack of points (or, from
    the other process at the same moment, with the documented 409: nothing written)."""
    body = response.json()
    if response.status_code == 200:
        assert body["batch"]["transactions"] == 1, body
        return 1
    assert response.status_code in (400, 409), body
    assert body["status"] == "error", body
    return 0


def test_concurrent_clienttoolbox_redemptions(two_servers: Servers) -> None:
    first, second = two_servers
    for _ in range(ROUNDS):
        tenant = first.new_tenant(CT_DOCUMENT)
        calls = [Call("POST", "/api.php", data=batch(tenant, "Y", COST)) for _ in range(RACERS)]
        responses = race(two_servers, calls)
        redeemed = sum(redeemed_by(r) for r in responses)
        balance = ct_balance_matches_its_transactions(second, tenant)
        assert balance == START - redeemed * COST
        refused = [r for r in responses if r.status_code == 400]
        if refused:  # refused for lack of points: none were left
            assert balance < COST, (balance, refused[0].text)


def test_clienttoolbox_undo_racing_redemptions(two_servers: Servers) -> None:
    """Undoing an earning batch while redemptions of the same customer run: either the undo
    comes first, or it is refused because a later batch wrote the customer; never is a
    redemption or the undo lost."""
    first, second = two_servers
    for _ in range(ROUNDS):
        tenant = first.new_tenant(CT_DOCUMENT)
        earned = httpx.post(f"{first.url}/api.php", data=batch(tenant, "N", 500, undo=True))
        assert earned.status_code == 200, earned.text
        state = earned.json()["batch"]["undo_state"]
        undo = f"/__admin/tenants/{tenant['id']}/clienttoolbox/undo-states/{state}/undo"
        calls = [Call("POST", "/api.php", data=batch(tenant, "Y", COST)) for _ in range(10)]
        calls.insert(5, Call("POST", undo))
        responses = race(two_servers, calls)
        undone = responses.pop(5)
        assert undone.status_code in (200, 409), undone.text
        redeemed = sum(redeemed_by(r) for r in responses)
        balance = ct_balance_matches_its_transactions(second, tenant)
        earnings = 0 if undone.status_code == 200 else 500
        assert balance == START + earnings - redeemed * COST
