"""Seeded fake volume for the `talonone` section: customer profiles with attributes of the
declared CustomerProfile types, loyalty points in the profile-based programs, cards in the
card-based ones, coupons and referral codes in the campaigns that have those features, and
audience members.

Counts (in `generate.counts`): `talonone.profiles` (default: `customers`),
`talonone.loyalty_percent` (share of generated profiles with points, default 50),
`talonone.cards` (per card-based program, default profiles / 10), `talonone.coupons` (default
profiles / 10), `talonone.referrals` (default profiles / 20), `talonone.audience_percent` (share of
generated profiles added to each audience, default 10), `talonone.achievement_percent` (share of
generated profiles with progress in each declared achievement, default 20). Integration ids, card identifiers,
coupon values and referral codes are unique by a counter and skip any the section holds.
"""

from __future__ import annotations

import random
import re
from typing import Any

from simulator.core.generate import (
    EMAIL_DOMAINS,
    FakePools,
    GenerateContext,
    iso_instant,
    unique_email,
)

CARD_IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{4,108}$")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TIERS = ("bronze", "silver", "gold")


def attribute_value(
    rng: random.Random, name: str, kind: str, person: dict[str, str], pools: FakePools
) -> Any:
    """A value of the declared type; the attribute's name picks a fitting kind of string."""
    lowered = name.lower()
    if kind == "number":
        return rng.randint(18, 90) if "age" in lowered else rng.randint(0, 100)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "time":
        return iso_instant(rng, 1950, 18_250) if "birth" in lowered else iso_instant(rng)
    if kind == "list":
        return [rng.choice(pools.words) for _ in range(rng.randint(1, 3))]
    if kind == "map":
        return {}
    if "email" in lowered:
        return person["email"]
    if "name" in lowered:
        return person["name"]
    if "tier" in lowered:
        return rng.choice(TIERS)
    if "city" in lowered:
        return rng.choice(pools.cities)
    return rng.choice(pools.words)


def short_code(rng: random.Random, length: int = 4) -> str:
    return "".join(rng.choice(CODE_ALPHABET) for _ in range(length))


def card_identifier(program: dict[str, Any], number: int) -> str:
    """From the program's couponPattern (`#` -> the counter's digits), else GEN-CARD-n."""
    pattern = str((program.get("cardCodeSettings") or {}).get("couponPattern") or "")
    hashes = pattern.count("#")
    if hashes and len(str(number)) <= hashes:
        digits = iter(f"{number:0{hashes}d}")
        identifier = "".join(next(digits) if ch == "#" else ch for ch in pattern)
        if CARD_IDENTIFIER.match(identifier):
            return identifier
    return f"GEN-CARD-{number:08d}"


class Counter:
    """Values from a counter, skipping those already taken."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.number = 0

    def next(self, make: Any) -> str:
        while True:
            self.number += 1
            value = make(self.number)
            if value not in self.taken:
                self.taken.add(value)
                return value


def profiles_part(
    context: GenerateContext, section: dict[str, Any], count: int
) -> tuple[list[dict[str, Any]], list[str]]:
    profiles = list(section.get("profiles") or [])
    # Sorted: the stored document (what a reset reloads) has its keys sorted.
    declared = dict((section.get("attributes") or {}).get("CustomerProfile") or {})
    ids = Counter({str(p.get("integrationId")) for p in profiles if isinstance(p, dict)})
    pools = FakePools.build(context, "talonone.people")
    rng = context.rng("talonone.profiles")
    generated = []
    for _ in range(count):
        integration_id = ids.next(lambda n: f"gen-customer-{n:06d}")
        first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
        person = {
            "name": f"{first} {last}",
            "email": unique_email(first, last, ids.number, rng.choice(EMAIL_DOMAINS)),
        }
        attributes = {
            name: attribute_value(rng, name, str(kind), person, pools)
            for name, kind in sorted(declared.items())
            if rng.random() < 0.8
        }
        sessions = rng.randint(0, 20)
        profiles.append(
            {
                "integrationId": integration_id,
                "attributes": attributes,
                "closedSessions": sessions,
                "totalSales": round(sessions * rng.uniform(10, 150), 2),
            }
        )
        generated.append(integration_id)
    return profiles, generated


def loyalty_part(
    context: GenerateContext, section: dict[str, Any], profiles: list[str]
) -> list[Any]:
    programs = [dict(p) for p in section.get("loyaltyPrograms") or [] if isinstance(p, dict)]
    if not programs or not profiles:
        return programs
    rng = context.rng("talonone.loyalty")
    percent = context.count("talonone.loyalty_percent", 50)
    by_points = [p for p in programs if not p.get("cardBased")]
    for program in by_points:
        program["transactions"] = list(program.get("transactions") or [])
    for profile_id in profiles:
        if not by_points or rng.randrange(100) >= percent:
            continue
        program = rng.choice(by_points)
        entry: dict[str, Any] = {
            "profileId": profile_id,
            "amount": rng.randrange(10, 1500, 10),
            "name": "Generated points",
        }
        subledgers = program.get("subledgers") or []
        if subledgers and rng.random() < 0.2:
            entry["subledgerId"] = rng.choice(subledgers)
        program["transactions"].append(entry)
    card_count = context.count("talonone.cards", len(profiles) // 10)
    taken = {
        str(card.get("identifier"))
        for program in programs
        for card in program.get("cards") or []
        if isinstance(card, dict)
    }
    identifiers = Counter(taken)
    for program in (p for p in programs if p.get("cardBased")):
        program["cards"] = list(program.get("cards") or [])
        program["transactions"] = list(program.get("transactions") or [])
        for _ in range(card_count):
            identifier = identifiers.next(lambda n, p=program: card_identifier(p, n))
            program["cards"].append(
                {"identifier": identifier, "status": "active", "profiles": [rng.choice(profiles)]}
            )
            program["transactions"].append(
                {
                    "cardIdentifier": identifier,
                    "amount": rng.randrange(10, 500, 10),
                    "name": "Generated points",
                }
            )
    return programs


def campaign_with(section: dict[str, Any], feature: str) -> int | None:
    for campaign in section.get("campaigns") or []:
        if isinstance(campaign, dict) and feature in (campaign.get("features") or []):
            return int(campaign["id"])
    return None


def codes_part(
    context: GenerateContext, section: dict[str, Any], profiles: list[str]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    rng = context.rng("talonone.codes")
    coupon_campaign = campaign_with(section, "coupons")
    coupon_count = context.count("talonone.coupons", len(profiles) // 10)
    if coupon_campaign is not None and coupon_count > 0:
        coupons = list(section.get("coupons") or [])
        values = Counter({str(c.get("value")) for c in coupons if isinstance(c, dict)})
        for _ in range(coupon_count):
            coupon: dict[str, Any] = {
                "value": values.next(lambda n: f"GEN-{n:06d}-{short_code(rng)}"),
                "campaignId": coupon_campaign,
            }
            if rng.random() < 0.5:
                coupon["usageLimit"] = 1
            if profiles and rng.random() < 0.3:
                coupon["recipientIntegrationId"] = rng.choice(profiles)
            coupons.append(coupon)
        result["coupons"] = coupons
    referral_campaign = campaign_with(section, "referrals")
    referral_count = context.count("talonone.referrals", len(profiles) // 20)
    if referral_campaign is not None and referral_count > 0 and profiles:
        referrals = list(section.get("referrals") or [])
        codes = Counter({str(r.get("code")) for r in referrals if isinstance(r, dict)})
        for _ in range(referral_count):
            referrals.append(
                {
                    "code": codes.next(lambda n: f"REF-{n:06d}-{short_code(rng)}"),
                    "campaignId": referral_campaign,
                    "advocateProfileIntegrationId": rng.choice(profiles),
                }
            )
        result["referrals"] = referrals
    return result


def audiences_part(
    context: GenerateContext, section: dict[str, Any], profiles: list[str]
) -> list[Any] | None:
    if not section.get("audiences") or not profiles:
        return None
    rng = context.rng("talonone.audiences")
    percent = context.count("talonone.audience_percent", 10)
    audiences = []
    for audience in section["audiences"]:
        audience = dict(audience)
        members = list(audience.get("members") or [])
        members.extend(p for p in profiles if rng.randrange(100) < percent)
        audience["members"] = members
        audiences.append(audience)
    return audiences


def achievements_part(
    context: GenerateContext, section: dict[str, Any], profiles: list[str]
) -> list[Any] | None:
    """In-progress trackers (started at load) for a share of the generated profiles in every
    declared achievement that starts on the customer's action."""
    definitions = [
        a
        for a in section.get("campaignAchievements") or []
        if isinstance(a, dict) and a.get("activationPolicy", "user_action") == "user_action"
    ]
    if not definitions or not profiles:
        return None
    rng = context.rng("talonone.achievements")
    percent = context.count("talonone.achievement_percent", 20)
    trackers = list(section.get("achievementProgress") or [])
    for profile_id in profiles:
        if rng.randrange(100) >= percent:
            continue
        for definition in definitions:
            target = int(definition.get("target") or 1)
            progress = rng.randrange(target) if target > 1 else 0
            trackers.append(
                {"achievementId": definition["id"], "profileId": profile_id, "progress": progress}
            )
    return trackers


COUNTS = (
    "talonone.achievement_percent",
    "talonone.profiles",
    "talonone.loyalty_percent",
    "talonone.cards",
    "talonone.coupons",
    "talonone.referrals",
    "talonone.audience_percent",
)


def generate(context: GenerateContext, section: dict[str, Any]) -> dict[str, Any]:
    count = context.count("talonone.profiles", context.customers)
    note_unmet(context, section, count)
    if count <= 0:
        result = dict(section)
        result.update(codes_part(context, section, []))  # coupons need no profile
        return result
    profiles, generated = profiles_part(context, section, count)
    result = {**section, "profiles": profiles}
    programs = loyalty_part(context, section, generated)
    if programs:
        result["loyaltyPrograms"] = programs
    result.update(codes_part(context, section, generated))
    audiences = audiences_part(context, section, generated)
    if audiences is not None:
        result["audiences"] = audiences
    trackers = achievements_part(context, section, generated)
    if trackers is not None:
        result["achievementProgress"] = trackers
    return result


HINT = (
    "declare one in the talonone section, or start from a set that has one "
    "(extends: default; fixtures generate --extends default)"
)


def note_unmet(context: GenerateContext, section: dict[str, Any], profiles: int) -> None:
    """Why a count asked for explicitly would make nothing in this section."""
    programs = [p for p in section.get("loyaltyPrograms") or [] if isinstance(p, dict)]
    if campaign_with(section, "coupons") is None:
        context.unmet("talonone.coupons", f"no campaign with the coupons feature: {HINT}")
    if campaign_with(section, "referrals") is None:
        context.unmet("talonone.referrals", f"no campaign with the referrals feature: {HINT}")
    if not any(p.get("cardBased") for p in programs):
        context.unmet("talonone.cards", f"no card-based loyalty program: {HINT}")
    if not any(not p.get("cardBased") for p in programs):
        context.unmet("talonone.loyalty_percent", f"no profile-based loyalty program: {HINT}")
    if not section.get("audiences"):
        context.unmet("talonone.audience_percent", f"no audience: {HINT}")
    if not section.get("campaignAchievements"):
        context.unmet("talonone.achievement_percent", f"no campaign achievement: {HINT}")
    if profiles <= 0:
        why = "made for generated profiles, and none are generated (customers or talonone.profiles)"
        for name in (
            "talonone.referrals",
            "talonone.cards",
            "talonone.loyalty_percent",
            "talonone.audience_percent",
            "talonone.achievement_percent",
        ):
            context.unmet(name, why)
