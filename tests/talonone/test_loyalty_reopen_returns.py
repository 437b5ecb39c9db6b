"""Returns after a reopen: close -> reopen -> close -> return keeps the ledger, the effects the
API answered and the session in agreement (issue 24), checked on the issue's own scenario and
as a property over random sequences of close, reopen, return and cancel on one session."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]
CART = [
    {"sku": "SKU-SHOE-1", "quantity": 1, "price": 80, "category": "shoes"},
    {"sku": "SKU-SHIRT-1", "quantity": 1, "price": 25},
]


def points(effects: list[dict], kind: str) -> float:
    """The program-1 points of one effect type among `effects`."""
    return sum(
        e["props"]["value"]
        for e in effects
        if e["effectType"] == kind and e["props"].get("programId") == 1
    )


def balance(client, headers, profile: str) -> float:
    response = client.get(f"/v1/loyalty_programs/1/profile/{profile}/balances", headers=headers)
    assert response.status_code == 200, response.text
    found = response.json()["balance"]
    return found["activePoints"] + found["pendingPoints"] - found["negativePoints"]


class Walk:
    """One session of one profile, moved by the integration API; `answered` is the net of the
    loyalty effects the API answered for it (added on a close, rolled back otherwise)."""

    def __init__(self, client, headers: dict, name: str) -> None:
        self.client, self.headers = client, headers
        self.session_id, self.profile = f"walk-{name}", f"walker-{name}"
        self.answered = 0.0
        self.state = "open"
        self.returned = [0] * len(CART)

    def put(self, state: str) -> Any:
        body = {"customerSession": {"profileId": self.profile, "cartItems": CART, "state": state}}
        return self.client.put(
            f"/v2/customer_sessions/{self.session_id}", headers=self.headers, json=body
        )

    def book(self, effects: list[dict], closing: bool) -> None:
        if closing:
            self.answered += points(effects, "addLoyaltyPoints")
        self.answered -= points(effects, "rollbackAddedLoyaltyPoints")

    def close(self) -> None:
        response = self.put("closed")
        if self.state != "open":
            assert response.status_code == 400, response.text
            return
        assert response.status_code == 200, response.text
        self.book(response.json()["effects"], closing=True)
        self.state = "closed"

    def reopen(self) -> None:
        response = self.client.put(
            f"/v2/customer_sessions/{self.session_id}/reopen", headers=self.headers
        )
        if self.state != "closed":
            assert response.status_code == 400, response.text
            return
        assert response.status_code == 200, response.text
        self.book(response.json()["effects"], closing=False)
        self.state = "open"
        self.returned = [0] * len(CART)

    def give_back(self, position: int) -> None:
        response = self.client.post(
            f"/v2/customer_sessions/{self.session_id}/returns",
            headers=self.headers,
            json={"return": {"returnedCartItems": [{"position": position, "quantity": 1}]}},
        )
        if self.state not in ("closed", "partially_returned") or self.returned[position]:
            assert response.status_code == 400, response.text
            return
        assert response.status_code == 200, response.text
        self.book(response.json()["effects"], closing=False)
        self.state = "partially_returned"
        self.returned[position] = 1

    def cancel(self) -> None:
        response = self.put("cancelled")
        if self.state == "cancelled":
            assert response.status_code == 400, response.text
            return
        assert response.status_code == 200, response.text
        self.book(response.json()["effects"], closing=False)
        self.state = "cancelled"

    def session_points(self) -> float:
        response = self.client.get(f"/v2/customer_sessions/{self.session_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return points(response.json()["effects"], "addLoyaltyPoints")

    def check(self) -> None:
        held = balance(self.client, self.headers, self.profile)
        assert held == self.answered
        if self.state in ("closed", "partially_returned"):
            assert self.session_points() == held


def test_a_return_after_reopen_and_close_takes_back_the_returned_share(client) -> None:
    walk = Walk(client, AUTH, "issue")
    walk.put("open")
    walk.close()
    assert (walk.answered, balance(client, AUTH, walk.profile)) == (105, 105)
    walk.reopen()
    assert (walk.answered, balance(client, AUTH, walk.profile)) == (0, 0)
    walk.close()
    assert (walk.answered, balance(client, AUTH, walk.profile)) == (105, 105)
    walk.give_back(0)
    assert (walk.answered, balance(client, AUTH, walk.profile)) == (25, 25)
    assert walk.session_points() == 25
    walk.cancel()
    assert (walk.answered, balance(client, AUTH, walk.profile)) == (0, 0)


STEPS = st.lists(
    st.sampled_from(["close", "reopen", "return0", "return1", "cancel"]), min_size=1, max_size=8
)
walks = iter(range(1_000_000))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_every_step_keeps_ledger_effects_and_session_in_agreement(client, steps) -> None:
    walk = Walk(client, AUTH, f"prop-{next(walks)}")
    opened = walk.put("open")
    assert opened.status_code == 200, opened.text
    for step in steps:
        if step.startswith("return"):
            walk.give_back(int(step[-1]))
        else:
            getattr(walk, step)()
        walk.check()
