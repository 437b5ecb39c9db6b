"""The engagement part of the `talonone` fixture section: coupons (with their reservations and
redemptions), referrals, audiences (with members), and inventory giveaways / achievements.

Ids are given in document order (1, 2, ...), so an exported section loaded into a new tenant
gives the same ids back. Campaigns are part 1's: referenced here by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic.alias_generators import to_camel
from sqlmodel import select

from simulator.core.clock import format_instant
from simulator.core.fixtures import FixtureError, LoadContext, Strict
from simulator.core.ids import next_value
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.engagement import (
    TalonAudience,
    TalonAudienceMembership,
    TalonCoupon,
    TalonCouponRedemption,
    TalonCouponReservation,
    TalonInventoryExtra,
    TalonReferral,
    TalonReferralRedemption,
)
from simulator.talonone.service.campaigns import get_campaign
from simulator.talonone.service.profile_store import ensure_profile
from simulator.talonone.service.referrals import UtcDateTime

LIMIT_ENTITIES = ("Coupon", "Referral", "Profile", "Identifier", "Store", "Session")


class Item(Strict):
    model_config = ConfigDict(alias_generator=to_camel)


class LimitFixture(Item):
    action: StrictStr = Field(min_length=1)
    limit: int | float = Field(ge=0)
    entities: list[Literal["Coupon", "Referral", "Profile", "Identifier", "Store", "Session"]]
    period: Literal["daily", "weekly", "monthly", "yearly"] | None = None


class RedemptionFixture(Item):
    session_id: StrictStr = Field(min_length=1, max_length=1000)
    profile_id: StrictStr | None = Field(default=None, max_length=1000)
    discount: float = Field(default=0.0, ge=0)


class CouponFixture(Item):
    value: StrictStr = Field(min_length=4, max_length=100)
    campaign_id: StrictInt
    usage_limit: StrictInt = Field(default=0, ge=0, le=999999)
    discount_limit: float | None = Field(default=None, ge=0)
    reservation_limit: StrictInt = Field(default=0, ge=0, le=999999)
    start_date: UtcDateTime | None = None
    expiry_date: UtcDateTime | None = None
    recipient_integration_id: StrictStr | None = Field(default=None, max_length=1000)
    is_reservation_mandatory: StrictBool = False
    implicitly_reserved: StrictBool = False
    reservation: StrictBool = True
    attributes: dict[str, Any] = Field(default_factory=dict)
    limits: list[LimitFixture] = Field(default_factory=list)
    batch_id: StrictStr | None = None
    created: UtcDateTime | None = None  # as exported (default: when the document is loaded)
    # State: who holds a reservation, and redemptions by closed sessions.
    reserved_for: list[StrictStr] = Field(default_factory=list)
    usage_counter: StrictInt | None = Field(default=None, ge=0)
    redemptions: list[RedemptionFixture] = Field(default_factory=list)

    @model_validator(mode="after")
    def consistent(self) -> CouponFixture:
        if self.start_date and self.expiry_date and self.expiry_date <= self.start_date:
            raise ValueError("expiryDate must be later than startDate")
        if not self.reservation and len(set(self.reserved_for)) > 1:
            raise ValueError("a personal code (reservation: false) is reserved for one profile")
        if self.usage_counter is not None and self.usage_counter < len(self.redemptions):
            raise ValueError("usageCounter cannot be lower than the number of redemptions")
        return self


class ReferralFixture(Item):
    code: StrictStr = Field(min_length=4, max_length=100)
    campaign_id: StrictInt
    advocate_profile_integration_id: StrictStr = Field(min_length=1, max_length=1000)
    friend_profile_integration_id: StrictStr | None = Field(default=None, max_length=1000)
    usage_limit: StrictInt = Field(default=0, ge=0, le=999999)
    start_date: UtcDateTime | None = None
    expiry_date: UtcDateTime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    batch_id: StrictStr | None = None
    created: UtcDateTime | None = None  # as exported (default: when the document is loaded)
    usage_counter: StrictInt | None = Field(default=None, ge=0)
    redemptions: list[RedemptionFixture] = Field(default_factory=list)

    @model_validator(mode="after")
    def consistent(self) -> ReferralFixture:
        if self.start_date and self.expiry_date and self.expiry_date <= self.start_date:
            raise ValueError("expiryDate must be later than startDate")
        if self.usage_counter is not None and self.usage_counter < len(self.redemptions):
            raise ValueError("usageCounter cannot be lower than the number of redemptions")
        return self


class AudienceFixture(Item):
    name: StrictStr = Field(min_length=1, max_length=1000)
    description: StrictStr | None = None
    integration: StrictStr | None = None
    integration_id: StrictStr | None = Field(default=None, min_length=1, max_length=1000)
    created_in_3rd_party: StrictBool | None = Field(default=None, alias="createdIn3rdParty")
    last_update: UtcDateTime | None = None
    sandbox: StrictBool | None = None
    created: UtcDateTime | None = None  # as exported (default: when the document is loaded)
    members: list[StrictStr] = Field(default_factory=list)


class GiveawayFixture(Item):
    profile_integration_id: StrictStr = Field(min_length=1, max_length=1000)
    id: StrictInt
    pool_id: StrictInt
    code: StrictStr = Field(min_length=1)
    created: UtcDateTime | None = None
    start_date: UtcDateTime | None = None
    end_date: UtcDateTime | None = None
    attributes: dict[str, Any] | None = None


class AchievementFixture(Item):
    profile_integration_id: StrictStr = Field(min_length=1, max_length=1000)
    achievement_id: StrictInt
    name: StrictStr = Field(pattern=r"^[a-zA-Z]\w+$")
    title: StrictStr
    description: StrictStr = ""
    campaign_id: StrictInt
    status: Literal["inprogress", "completed", "expired", "not_started"] = "inprogress"
    progress: float = 0
    target: float | None = None
    achievement_recurrence_policy: Literal["no_recurrence", "on_expiration", "on_completion"] = (
        "no_recurrence"
    )
    achievement_activation_policy: Literal["user_action", "fixed_schedule"] = "user_action"
    start_date: UtcDateTime | None = None
    completion_date: UtcDateTime | None = None
    end_date: UtcDateTime | None = None


class FixtureModel(Strict):
    coupons: list[CouponFixture] = Field(default_factory=list)
    referrals: list[ReferralFixture] = Field(default_factory=list)
    audiences: list[AudienceFixture] = Field(default_factory=list)
    giveaways: list[GiveawayFixture] = Field(default_factory=list)
    achievements: list[AchievementFixture] = Field(default_factory=list)


# --- load -------------------------------------------------------------------------------------


def check_unique(values: list[str], section: str, key: str, source: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise FixtureError(
                source, f"talonone.{section}[{index}].{key}", f"duplicate {key} {value!r}"
            )
        seen.add(value)


def wire_body(item: Item, *, exclude: set[str]) -> dict[str, Any]:
    """An item as the API prints it: camelCase keys, RFC 3339 instants, unset keys left out."""
    body: dict[str, Any] = {}
    for key, value in item.model_dump(by_alias=True, exclude_none=True).items():
        if key in exclude:
            continue
        body[key] = format_instant(value) if isinstance(value, datetime) else value
    return body


def ensure_profiles(db: Store, tenant: Tenant, ids: set[str], now: datetime) -> None:
    if not ids:
        return

    for profile_id in sorted(ids):
        ensure_profile(db, tenant.id, profile_id, now)


def reserved_ids(db: Store, tenant: Tenant, counter: str, count: int) -> range:
    """`count` ids of a counter taken with one statement (generated fixtures bring thousands)."""
    if count <= 0:
        return range(0)
    last = next_value(db, tenant.id, counter, count)
    return range(last - count + 1, last + 1)


def load_coupons(db: Store, tenant: Tenant, items: list[CouponFixture], now: datetime) -> None:
    ids = reserved_ids(db, tenant, "talonone.coupon", len(items))
    for coupon_id, item in zip(ids, items, strict=True):
        db.add(
            TalonCoupon(
                tenant_id=tenant.id,
                id=coupon_id,
                campaign_id=item.campaign_id,
                value=item.value,
                usage_limit=item.usage_limit,
                usage_counter=item.usage_counter
                if item.usage_counter is not None
                else len(item.redemptions),
                discount_limit=item.discount_limit,
                discount_counter=sum(r.discount for r in item.redemptions),
                reservation_limit=item.reservation_limit,
                reservation=item.reservation,
                is_reservation_mandatory=item.is_reservation_mandatory,
                implicitly_reserved=item.implicitly_reserved,
                recipient_integration_id=item.recipient_integration_id,
                start_date=item.start_date,
                expiry_date=item.expiry_date,
                attributes=dict(item.attributes),
                limits=[limit.model_dump(exclude_none=True) for limit in item.limits],
                batch_id=item.batch_id,
                created=item.created or now,
            )
        )
        for profile_id in dict.fromkeys(item.reserved_for):
            db.add(
                TalonCouponReservation(
                    tenant_id=tenant.id,
                    coupon_id=coupon_id,
                    profile_integration_id=profile_id,
                    created=now,
                )
            )
        for redemption in item.redemptions:
            db.add(
                TalonCouponRedemption(
                    tenant_id=tenant.id,
                    coupon_id=coupon_id,
                    session_id=redemption.session_id,
                    profile_id=redemption.profile_id,
                    discount=redemption.discount,
                    created=now,
                )
            )


def load_referrals(db: Store, tenant: Tenant, items: list[ReferralFixture], now: datetime) -> None:
    ids = reserved_ids(db, tenant, "talonone.referral", len(items))
    for referral_id, item in zip(ids, items, strict=True):
        db.add(
            TalonReferral(
                tenant_id=tenant.id,
                id=referral_id,
                campaign_id=item.campaign_id,
                code=item.code,
                advocate_profile_integration_id=item.advocate_profile_integration_id,
                friend_profile_integration_id=item.friend_profile_integration_id,
                usage_limit=item.usage_limit,
                usage_counter=item.usage_counter
                if item.usage_counter is not None
                else len(item.redemptions),
                start_date=item.start_date,
                expiry_date=item.expiry_date,
                attributes=dict(item.attributes),
                batch_id=item.batch_id,
                created=item.created or now,
            )
        )
        for redemption in item.redemptions:
            db.add(
                TalonReferralRedemption(
                    tenant_id=tenant.id,
                    referral_id=referral_id,
                    session_id=redemption.session_id,
                    profile_id=redemption.profile_id,
                    created=now,
                )
            )


def load_audiences(db: Store, tenant: Tenant, items: list[AudienceFixture], now: datetime) -> None:
    ids = reserved_ids(db, tenant, "talonone.audience", len(items))
    for audience_id, item in zip(ids, items, strict=True):
        db.add(
            TalonAudience(
                tenant_id=tenant.id,
                id=audience_id,
                name=item.name,
                description=item.description,
                integration=item.integration,
                integration_id=item.integration_id,
                created_in_3rd_party=item.created_in_3rd_party,
                last_update=item.last_update,
                sandbox=item.sandbox,
                created=item.created or now,
            )
        )
        for profile_id in dict.fromkeys(item.members):
            db.add(
                TalonAudienceMembership(
                    tenant_id=tenant.id,
                    audience_id=audience_id,
                    profile_integration_id=profile_id,
                    created=now,
                )
            )


def load_extras(db: Store, tenant: Tenant, fixture: FixtureModel, now: datetime) -> None:
    for giveaway in fixture.giveaways:
        body = wire_body(giveaway, exclude={"profileIntegrationId"})
        body.setdefault("created", format_instant(now))
        body["profileIntegrationId"] = giveaway.profile_integration_id
        db.add(
            TalonInventoryExtra(
                tenant_id=tenant.id,
                kind="giveaway",
                profile_integration_id=giveaway.profile_integration_id,
                body=body,
            )
        )
    for achievement in fixture.achievements:
        db.add(
            TalonInventoryExtra(
                tenant_id=tenant.id,
                kind="achievement",
                profile_integration_id=achievement.profile_integration_id,
                body=wire_body(achievement, exclude={"profileIntegrationId"}),
            )
        )


def referenced_profiles(fixture: FixtureModel) -> set[str]:
    """Every profile the section names, so each exists once the section is loaded."""
    ids: set[str] = set()
    for coupon in fixture.coupons:
        ids.update(coupon.reserved_for)
        if coupon.recipient_integration_id:
            ids.add(coupon.recipient_integration_id)
    for referral in fixture.referrals:
        ids.add(referral.advocate_profile_integration_id)
    for audience in fixture.audiences:
        ids.update(audience.members)
    ids.update(item.profile_integration_id for item in fixture.giveaways)
    ids.update(item.profile_integration_id for item in fixture.achievements)
    return ids


def check_campaigns(db: Store, tenant: Tenant, fixture: FixtureModel, source: str) -> None:
    """Coupons and referrals name campaigns of the core part, loaded before this one."""

    for section, items in (("coupons", fixture.coupons), ("referrals", fixture.referrals)):
        for index, item in enumerate(items):
            if get_campaign(db, tenant.id, item.campaign_id) is None:
                raise FixtureError(
                    source,
                    f"talonone.{section}[{index}].campaignId",
                    f"no campaign with id {item.campaign_id} in talonone.campaigns",
                )


def load_fixtures(db: Store, tenant: Tenant, fixture: Any, context: LoadContext) -> None:
    """Write this part's rows from the validated section (the caller commits)."""
    check_unique([c.value for c in fixture.coupons], "coupons", "value", context.source)
    check_unique([r.code for r in fixture.referrals], "referrals", "code", context.source)
    check_campaigns(db, tenant, fixture, context.source)
    now = context.now
    declared = {profile.integrationId for profile in getattr(fixture, "profiles", [])}
    ensure_profiles(db, tenant, referenced_profiles(fixture) - declared, now)
    load_coupons(db, tenant, fixture.coupons, now)
    load_referrals(db, tenant, fixture.referrals, now)
    load_audiences(db, tenant, fixture.audiences, now)
    load_extras(db, tenant, fixture, now)
    db.flush()


# --- export -----------------------------------------------------------------------------------


def instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


def drop_empty(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None}


def export_coupons(db: Store, tenant_id: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(TalonCoupon).where(TalonCoupon.tenant_id == tenant_id).order_by(TalonCoupon.id)
    ).all()
    reservations: dict[int, list[str]] = {}
    for row in db.exec(
        select(TalonCouponReservation)
        .where(TalonCouponReservation.tenant_id == tenant_id)
        .order_by(TalonCouponReservation.created, TalonCouponReservation.profile_integration_id)
    ).all():
        reservations.setdefault(row.coupon_id, []).append(row.profile_integration_id)
    redemptions: dict[int, list[dict[str, Any]]] = {}
    for row in db.exec(
        select(TalonCouponRedemption)
        .where(TalonCouponRedemption.tenant_id == tenant_id)
        .order_by(TalonCouponRedemption.pk)
    ).all():
        redemptions.setdefault(row.coupon_id, []).append(
            drop_empty(
                {"sessionId": row.session_id, "profileId": row.profile_id, "discount": row.discount}
            )
        )
    return [
        drop_empty(
            {
                "value": c.value,
                "campaignId": c.campaign_id,
                "usageLimit": c.usage_limit,
                "discountLimit": c.discount_limit,
                "reservationLimit": c.reservation_limit,
                "startDate": instant(c.start_date),
                "expiryDate": instant(c.expiry_date),
                "recipientIntegrationId": c.recipient_integration_id,
                "isReservationMandatory": c.is_reservation_mandatory,
                "implicitlyReserved": c.implicitly_reserved,
                "reservation": c.reservation,
                "attributes": dict(c.attributes or {}),
                "limits": list(c.limits or []),
                "batchId": c.batch_id,
                "created": instant(c.created),
                "reservedFor": reservations.get(c.id, []),
                "usageCounter": c.usage_counter,
                "redemptions": redemptions.get(c.id, []),
            }
        )
        for c in rows
    ]


def export_referrals(db: Store, tenant_id: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(TalonReferral).where(TalonReferral.tenant_id == tenant_id).order_by(TalonReferral.id)
    ).all()
    redemptions: dict[int, list[dict[str, Any]]] = {}
    for row in db.exec(
        select(TalonReferralRedemption)
        .where(TalonReferralRedemption.tenant_id == tenant_id)
        .order_by(TalonReferralRedemption.pk)
    ).all():
        redemptions.setdefault(row.referral_id, []).append(
            drop_empty({"sessionId": row.session_id, "profileId": row.profile_id})
        )
    return [
        drop_empty(
            {
                "code": r.code,
                "campaignId": r.campaign_id,
                "advocateProfileIntegrationId": r.advocate_profile_integration_id,
                "friendProfileIntegrationId": r.friend_profile_integration_id,
                "usageLimit": r.usage_limit,
                "startDate": instant(r.start_date),
                "expiryDate": instant(r.expiry_date),
                "attributes": dict(r.attributes or {}),
                "batchId": r.batch_id,
                "created": instant(r.created),
                "usageCounter": r.usage_counter,
                "redemptions": redemptions.get(r.id, []),
            }
        )
        for r in rows
    ]


def export_audiences(db: Store, tenant_id: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(TalonAudience).where(TalonAudience.tenant_id == tenant_id).order_by(TalonAudience.id)
    ).all()
    members: dict[int, list[str]] = {}
    for row in db.exec(
        select(TalonAudienceMembership)
        .where(TalonAudienceMembership.tenant_id == tenant_id)
        .order_by(TalonAudienceMembership.profile_integration_id)
    ).all():
        members.setdefault(row.audience_id, []).append(row.profile_integration_id)
    return [
        drop_empty(
            {
                "name": a.name,
                "description": a.description,
                "integration": a.integration,
                "integrationId": a.integration_id,
                "createdIn3rdParty": a.created_in_3rd_party,
                "lastUpdate": instant(a.last_update),
                "sandbox": a.sandbox,
                "created": instant(a.created),
                "members": members.get(a.id, []),
            }
        )
        for a in rows
    ]


def export_extras(db: Store, tenant_id: str, kind: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(TalonInventoryExtra)
        .where(TalonInventoryExtra.tenant_id == tenant_id, TalonInventoryExtra.kind == kind)
        .order_by(TalonInventoryExtra.pk)
    ).all()
    return [{**row.body, "profileIntegrationId": row.profile_integration_id} for row in rows]


def export_fixtures(db: Store, tenant: Tenant) -> dict[str, Any]:
    """Only the keys with content, so an empty part adds nothing to the document."""
    document = {
        "coupons": export_coupons(db, tenant.id),
        "referrals": export_referrals(db, tenant.id),
        "audiences": export_audiences(db, tenant.id),
        "giveaways": export_extras(db, tenant.id, "giveaway"),
        "achievements": export_extras(db, tenant.id, "achievement"),
    }
    return {key: value for key, value in document.items() if value}
