"""Referral codes: CreateReferral, CreateReferralsForMultipleAdvocates, and the rule engine's
validation / redemption / release of a code (every rejection reason)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from simulator.core.db import new_session
from simulator.talonone.service import referrals

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
WORLD = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [
            {"id": 1, "name": "Refer a friend", "features": ["referrals"]},
            {"id": 2, "name": "Summer coupons", "features": ["coupons"]},
        ]
    },
}


class World:
    """A tenant with referral campaigns: its id and Talon.One headers."""

    def __init__(self, tenant: dict) -> None:
        self.id = tenant["id"]
        self.headers = {
            "Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"
        }


@pytest.fixture
def world(new_tenant) -> World:
    return World(new_tenant(WORLD))


def create(client: TestClient, world: World, **body) -> dict:
    payload = {"campaignId": 1, "advocateProfileIntegrationId": "adv-1", **body}
    response = client.post("/v1/referrals", json=payload, headers=world.headers)
    assert response.status_code == 201, response.text
    return response.json()


def db(client: TestClient) -> Session:
    return new_session(client.app.state.engine)


def test_create_referral_generates_a_code_and_returns_the_referral(
    client: TestClient, world: World
) -> None:
    body = create(
        client,
        world,
        friendProfileIntegrationId="friend-1",
        usageLimit=2,
        startDate="2030-01-01T00:00:00Z",
        expiryDate="2030-02-01T00:00:00Z",
        attributes={"channel": "web"},
    )
    assert re.fullmatch(r"[A-Z0-9]{8}", body["code"])
    assert isinstance(body["id"], int)
    assert body["campaignId"] == 1
    assert body["advocateProfileIntegrationId"] == "adv-1"
    assert body["friendProfileIntegrationId"] == "friend-1"
    assert body["usageLimit"] == 2
    assert body["usageCounter"] == 0
    assert body["created"] == "2030-01-01T12:00:00Z"
    assert body["startDate"] == "2030-01-01T00:00:00Z"
    assert body["expiryDate"] == "2030-02-01T00:00:00Z"
    assert body["attributes"] == {"channel": "web"}


def test_generated_codes_are_unique_and_ids_increase(client: TestClient, world: World) -> None:
    made = [create(client, world) for _ in range(3)]
    assert len({r["code"] for r in made}) == 3
    assert [r["id"] for r in made] == [made[0]["id"] + n for n in range(3)]


def test_codes_are_drawn_from_the_seeded_source(client: TestClient, new_tenant) -> None:
    one, two = World(new_tenant(WORLD)), World(new_tenant(WORLD))
    body = {"campaignId": 1, "advocateProfileIntegrationId": "a"}
    code_one = client.post("/v1/referrals", json=body, headers=one.headers).json()["code"]
    code_two = client.post("/v1/referrals", json=body, headers=two.headers).json()["code"]
    # Each code is fixed by (seed, tenant, draw number): a rerun gives the same codes.
    assert code_one == referrals_code_for(client, one.id, 1)
    assert code_two == referrals_code_for(client, two.id, 1)


def referrals_code_for(client: TestClient, tenant_id: str, draw: int) -> str:
    from simulator.core.ids import seeded_rng

    rng = seeded_rng(client.app.state.settings.seed, tenant_id, "talonone.referral", draw)
    return "".join(rng.choice(referrals.DEFAULT_CHARACTERS) for _ in range(8))


def test_campaign_must_exist_and_run_referrals(client: TestClient, world: World) -> None:
    for campaign_id, words in ((99, "not found"), (2, "not a referral campaign")):
        response = client.post(
            "/v1/referrals",
            json={"campaignId": campaign_id, "advocateProfileIntegrationId": "a"},
            headers=world.headers,
        )
        assert response.status_code == 400
        assert words in response.json()["message"]
        assert response.json()["errors"][0]["source"] == {"pointer": "/campaignId"}
    many = client.post(
        "/v1/referrals_for_multiple_advocates",
        json={"campaignId": 99, "advocateProfileIntegrationIds": ["a"]},
        headers=world.headers,
    )
    assert many.status_code == 400


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"advocateProfileIntegrationId": "a"}, "/campaignId"),
        ({"campaignId": 1}, "/advocateProfileIntegrationId"),
        ({"campaignId": "1", "advocateProfileIntegrationId": "a"}, "/campaignId"),
        ({"campaignId": 1, "advocateProfileIntegrationId": 5}, "/advocateProfileIntegrationId"),
        ({"campaignId": 1, "advocateProfileIntegrationId": "a", "usageLimit": -1}, "/usageLimit"),
        (
            {"campaignId": 1, "advocateProfileIntegrationId": "a", "usageLimit": 1000000},
            "/usageLimit",
        ),
        ({"campaignId": 1, "advocateProfileIntegrationId": "a", "startDate": "soon"}, "/startDate"),
        (
            {
                "campaignId": 1,
                "advocateProfileIntegrationId": "a",
                "startDate": "2030-02-01T00:00:00Z",
                "expiryDate": "2030-01-01T00:00:00Z",
            },
            "/expiryDate",
        ),
        ({"campaignId": 1, "advocateProfileIntegrationId": "a", "code": "ABC"}, "/code"),
    ],
)
def test_create_referral_refuses_bad_bodies(
    client: TestClient, world: World, body: dict, pointer: str
) -> None:
    response = client.post("/v1/referrals", json=body, headers=world.headers)
    assert response.status_code == 400
    error = response.json()
    assert error["StatusCode"] == 400
    assert error["message"]
    assert error["errors"][0]["source"] == {"pointer": pointer}


def test_create_referral_refuses_non_json_and_non_objects(client: TestClient, world: World) -> None:
    for content in (b"", b"{", b"[1]"):
        response = client.post(
            "/v1/referrals",
            content=content,
            headers={**world.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert "message" in response.json()


def test_explicit_code_must_be_unique(client: TestClient, world: World) -> None:
    create(client, world, code="FRIEND-2030")
    response = client.post(
        "/v1/referrals",
        json={"campaignId": 1, "advocateProfileIntegrationId": "b", "code": "FRIEND-2030"},
        headers=world.headers,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"pointer": "/code"}


def test_referral_needs_credentials(client: TestClient, world: World) -> None:
    response = client.post("/v1/referrals", json={"campaignId": 1})
    assert response.status_code == 401


# --- many advocates ---------------------------------------------------------------------------


def test_multiple_advocates_silent_by_default(client: TestClient, world: World) -> None:
    body = {"campaignId": 1, "advocateProfileIntegrationIds": ["a", "b"], "usageLimit": 1}
    response = client.post("/v1/referrals_for_multiple_advocates", json=body, headers=world.headers)
    assert response.status_code == 204
    assert response.content == b""
    with db(client) as session:
        assert referrals.profile_referrals(session, world.id, "a")[0]["usageLimit"] == 1
        assert len(referrals.profile_referrals(session, world.id, "b")) == 1


def test_multiple_advocates_not_silent_returns_one_code_each(
    client: TestClient, world: World
) -> None:
    body = {
        "campaignId": 1,
        "advocateProfileIntegrationIds": ["a", "b", "c"],
        "usageLimit": 3,
        "referralPattern": "REF-###-###",
        "validCharacters": ["X", "Y", "7"],
        "attributes": {"wave": 1},
    }
    response = client.post(
        "/v1/referrals_for_multiple_advocates?silent=no", json=body, headers=world.headers
    )
    assert response.status_code == 201
    result = response.json()
    assert result["totalResultSize"] == 3
    assert [r["advocateProfileIntegrationId"] for r in result["data"]] == ["a", "b", "c"]
    codes = [r["code"] for r in result["data"]]
    assert len(set(codes)) == 3
    assert all(re.fullmatch(r"REF-[XY7]{3}-[XY7]{3}", code) for code in codes)
    assert {r["batchId"] for r in result["data"]} == {result["data"][0]["batchId"]}
    assert all(r["usageLimit"] == 3 and r["attributes"] == {"wave": 1} for r in result["data"])


@pytest.mark.parametrize(
    ("query", "body", "where"),
    [
        ("?silent=maybe", {"campaignId": 1, "advocateProfileIntegrationIds": ["a"]}, "silent"),
        (
            "",
            {"campaignId": 1, "advocateProfileIntegrationIds": []},
            "/advocateProfileIntegrationIds",
        ),
        ("", {"campaignId": 1}, "/advocateProfileIntegrationIds"),
        (
            "",
            {"campaignId": 1, "advocateProfileIntegrationIds": ["a"], "referralPattern": "ABCD"},
            "/referralPattern",
        ),
        (
            "",
            {"campaignId": 1, "advocateProfileIntegrationIds": ["a"], "referralPattern": "##"},
            "/referralPattern",
        ),
        (
            "",
            {"campaignId": 1, "advocateProfileIntegrationIds": ["a"], "validCharacters": ["AB"]},
            "/validCharacters",
        ),
    ],
)
def test_multiple_advocates_refuses_bad_input(
    client: TestClient, world: World, query: str, body: dict, where: str
) -> None:
    response = client.post(
        f"/v1/referrals_for_multiple_advocates{query}", json=body, headers=world.headers
    )
    assert response.status_code == 400
    source = response.json()["errors"][0]["source"]
    assert source.get("pointer", source.get("parameter")) == where


def test_a_pattern_that_runs_out_of_codes_writes_nothing(client: TestClient, world: World) -> None:
    body = {
        "campaignId": 1,
        "advocateProfileIntegrationIds": [f"p{i}" for i in range(5)],
        "referralPattern": "REF-#",
        "validCharacters": ["A", "B"],
    }
    response = client.post(
        "/v1/referrals_for_multiple_advocates?silent=no", json=body, headers=world.headers
    )
    assert response.status_code == 400
    with db(client) as session:
        assert referrals.profile_referrals(session, world.id, "p0") == []


# --- validation, redemption, release ----------------------------------------------------------


def seeded_referral(client: TestClient, world: World, **body) -> dict:
    return create(client, world, **body)


def check(
    client: TestClient, world: World, code: str, profile: str | None, *, campaign: int = 1, now=NOW
):
    with db(client) as session:
        return referrals.validate_referral(
            session, world.id, now, code=code, campaign_id=campaign, profile_id=profile
        )


def test_a_valid_referral_is_accepted(client: TestClient, world: World) -> None:
    referral = seeded_referral(client, world)
    assert check(client, world, referral["code"], "friend") is None


def test_unknown_code_or_other_campaign_is_not_found(client: TestClient, world: World) -> None:
    referral = seeded_referral(client, world)
    assert check(client, world, "NOPE-NOPE", "friend") == "ReferralNotFound"
    assert check(client, world, referral["code"], "friend", campaign=2) == "ReferralNotFound"


def test_dates_are_read_on_the_tenant_clock(client: TestClient, world: World) -> None:
    referral = seeded_referral(
        client, world, startDate="2030-01-02T00:00:00Z", expiryDate="2030-01-03T00:00:00Z"
    )
    code = referral["code"]
    assert check(client, world, code, "f") == "ReferralStartDateInFuture"
    assert check(client, world, code, "f", now=NOW + timedelta(days=1)) is None
    assert check(client, world, code, "f", now=NOW + timedelta(days=2)) == "ReferralExpired"


def test_advocate_cannot_use_own_code(client: TestClient, world: World) -> None:
    referral = seeded_referral(client, world)
    assert check(client, world, referral["code"], "adv-1") == "ReferralRecipientIdSameAsAdvocate"


def test_code_for_a_friend_is_refused_to_anyone_else(client: TestClient, world: World) -> None:
    referral = seeded_referral(client, world, friendProfileIntegrationId="friend-1")
    assert check(client, world, referral["code"], "friend-1") is None
    assert check(client, world, referral["code"], "someone") == "ReferralRecipientDoesNotMatch"
    assert check(client, world, referral["code"], None) == "ReferralRecipientDoesNotMatch"


def test_usage_limit_counts_closed_sessions_and_cancel_gives_it_back(
    client: TestClient, world: World
) -> None:
    referral = seeded_referral(client, world, usageLimit=1)
    code = referral["code"]
    with db(client) as session:
        referrals.redeem_referral(
            session, world.id, NOW, session_id="s1", profile_id="friend", code=code
        )
        referrals.redeem_referral(  # a second close of the same session counts once
            session, world.id, NOW, session_id="s1", profile_id="friend", code=code
        )
        session.commit()
    assert check(client, world, code, "other") == "ReferralLimitReached"
    with db(client) as session:
        assert (
            referrals.validate_referral(
                session,
                world.id,
                NOW,
                code=code,
                campaign_id=1,
                profile_id="friend",
                session_id="s1",
            )
            is None
        )
        inventory = referrals.profile_referrals(session, world.id, "adv-1")
    assert inventory[0]["usageCounter"] == 1
    assert inventory[0]["referredCustomers"] == ["friend"]
    with db(client) as session:
        referrals.release_referral(session, world.id, session_id="s1")
        session.commit()
    assert check(client, world, code, "other") is None
    with db(client) as session:
        inventory = referrals.profile_referrals(session, world.id, "adv-1")
    assert inventory[0]["usageCounter"] == 0
    assert inventory[0]["referredCustomers"] == []


def test_unlimited_code_never_reaches_a_limit(client: TestClient, world: World) -> None:
    referral = seeded_referral(client, world, usageLimit=0)
    with db(client) as session:
        for n in range(5):
            referrals.redeem_referral(
                session,
                world.id,
                NOW,
                session_id=f"s{n}",
                profile_id=f"f{n}",
                code=referral["code"],
            )
        session.commit()
    assert check(client, world, referral["code"], "f9") is None


def test_an_instant_without_zone_is_utc(client: TestClient, world: World) -> None:
    body = create(
        client, world, startDate="2030-01-01T00:00:00", expiryDate="2030-01-02T01:00:00+01:00"
    )
    assert body["startDate"] == "2030-01-01T00:00:00Z"
    assert body["expiryDate"] == "2030-01-02T00:00:00Z"
    refused = client.post(
        "/v1/referrals",
        json={
            "campaignId": 1,
            "advocateProfileIntegrationId": "a",
            "startDate": "2030-01-02T00:00:00",
            "expiryDate": "2030-01-02T00:30:00+01:00",
        },
        headers=world.headers,
    )
    assert refused.status_code == 400


def test_the_inventory_lists_each_codes_friends_once_in_redemption_order(
    client: TestClient, world: World
) -> None:
    """Codes in id order; each friend once, at their first redemption; a code no one used has
    none (one statement reads codes and friends together)."""
    profile = client.put("/v2/customer_profiles/adv-1", json={}, headers=world.headers)
    assert profile.status_code == 200, profile.text
    first, unused = seeded_referral(client, world), seeded_referral(client, world)
    with db(client) as session:
        for session_id, friend in (("s1", "zoe"), ("s2", "amy"), ("s3", "zoe"), ("s4", "bob")):
            referrals.redeem_referral(
                session, world.id, NOW, session_id=session_id, profile_id=friend, code=first["code"]
            )
        session.commit()
    response = client.get(
        "/v1/customer_profiles/adv-1/inventory?referrals=true", headers=world.headers
    )
    assert response.status_code == 200, response.text
    listed = response.json()["referrals"]
    assert [(r["code"], r["usageCounter"]) for r in listed] == [
        (first["code"], 4),
        (unused["code"], 0),
    ]
    assert [r["referredCustomers"] for r in listed] == [["zoe", "amy", "bob"], []]
