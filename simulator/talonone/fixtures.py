"""The `talonone` fixture section: the parts' fields side by side in one mapping."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from simulator.core.fixtures import FixtureSection, LoadContext
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.generate import COUNTS as GENERATE_COUNTS
from simulator.talonone.generate import generate
from simulator.talonone.service import (
    achievement_fixtures,
    core_fixtures,
    engagement_fixtures,
    loyalty_fixtures,
    price_fixtures,
    session_fixtures,
)

# load order
PARTS = (
    core_fixtures,
    price_fixtures,
    achievement_fixtures,
    loyalty_fixtures,
    engagement_fixtures,
    session_fixtures,
)


class TalonOneFixture(
    core_fixtures.FixtureModel,
    loyalty_fixtures.FixtureModel,
    engagement_fixtures.FixtureModel,
    session_fixtures.FixtureModel,
    price_fixtures.FixtureModel,
    achievement_fixtures.FixtureModel,
):
    model_config = ConfigDict(defer_build=True, extra="forbid", populate_by_name=True)


def load(db: Store, tenant: Tenant, fixture: TalonOneFixture, context: LoadContext) -> None:
    for part in PARTS:
        part.load_fixtures(db, tenant, fixture, context)


def export(db: Store, tenant: Tenant) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for part in PARTS:
        document.update(part.export_fixtures(db, tenant))
    return document


SECTION = FixtureSection(
    name="talonone",
    schema=TalonOneFixture,
    load=load,
    export=export,
    generate=generate,
    counts=GENERATE_COUNTS,
    list_keys={
        "campaigns": ("id",),
        "catalogs": ("id",),
        "catalogs[].items": ("sku",),
        "profiles": ("integrationId",),
        "loyaltyPrograms": ("id",),
        "loyaltyPrograms[].tiers": ("id",),
        "loyaltyPrograms[].cards": ("identifier",),
        "coupons": ("value",),
        "referrals": ("code",),
        "audiences": ("integrationId", "name"),
        "giveaways": ("id",),
        "sessions": ("integrationId",),
        "events": ("id",),
        "priceHistory": ("id",),
        "campaignAchievements": ("id",),
        "achievementProgress": ("id",),
    },
)
