"""Referral codes: creation (one advocate or many), validation for the rule engine, redemption.

Part 1 (sessions) calls `validate_referral` while it evaluates a campaign, `redeem_referral`
when a session closes and `release_referral` when it is cancelled (or reopened).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from sqlalchemy import and_, bindparam, case, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from simulator.core import fastsql
from simulator.core.clock import UtcDateTime, format_instant
from simulator.core.db import same_tenant
from simulator.core.ids import next_value, seeded_rng
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.engagement import TalonReferral, TalonReferralRedemption
from simulator.talonone.service.campaigns import get_campaign

DEFAULT_CHARACTERS = list(string.ascii_uppercase + string.digits)
DEFAULT_CODE_LENGTH = 8
MIN_CODE_LENGTH = 4  # the SDKs refuse a shorter `code` in a response
MAX_CODE_LENGTH = 100
ATTEMPTS_PER_CODE = 25

NOT_FOUND = "ReferralNotFound"
START_IN_FUTURE = "ReferralStartDateInFuture"
EXPIRED = "ReferralExpired"
SAME_AS_ADVOCATE = "ReferralRecipientIdSameAsAdvocate"
RECIPIENT_MISMATCH = "ReferralRecipientDoesNotMatch"
LIMIT_REACHED = "ReferralLimitReached"


# --- request bodies ---------------------------------------------------------------------------


class ReferralTerms(BaseModel):
    """What NewReferral and NewReferralsForMultipleAdvocates share."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    campaign_id: StrictInt = Field(alias="campaignId")
    start_date: UtcDateTime | None = Field(default=None, alias="startDate")
    expiry_date: UtcDateTime | None = Field(default=None, alias="expiryDate")
    usage_limit: StrictInt = Field(default=0, alias="usageLimit", ge=0, le=999999)
    attributes: dict[str, Any] | None = None


class NewReferral(ReferralTerms):
    advocate_profile_integration_id: StrictStr = Field(
        alias="advocateProfileIntegrationId", min_length=1, max_length=1000
    )
    friend_profile_integration_id: StrictStr | None = Field(
        default=None, alias="friendProfileIntegrationId", max_length=1000
    )
    # Not in the API's NewReferral: lets a test pick the code (chosen, see docs/behaviour.md).
    code: StrictStr | None = Field(
        default=None, min_length=MIN_CODE_LENGTH, max_length=MAX_CODE_LENGTH
    )


class NewReferralsForMultipleAdvocates(ReferralTerms):
    advocate_profile_integration_ids: list[StrictStr] = Field(
        alias="advocateProfileIntegrationIds", min_length=1, max_length=1000
    )
    valid_characters: list[StrictStr] | None = Field(default=None, alias="validCharacters")
    referral_pattern: StrictStr | None = Field(
        default=None, alias="referralPattern", min_length=3, max_length=100
    )

    @field_validator("advocate_profile_integration_ids")
    @classmethod
    def ids_not_blank(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip() or len(item) > 1000:
                raise ValueError("each advocate ID must be a non-empty string of ≤ 1000 characters")
        return value

    @field_validator("valid_characters")
    @classmethod
    def single_characters(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("validCharacters must not be empty")
            if any(len(item) != 1 for item in value):
                raise ValueError("each item of validCharacters must be exactly one character")
        return value

    @field_validator("referral_pattern")
    @classmethod
    def pattern_makes_codes(cls, value: str | None) -> str | None:
        if value is not None:
            if "#" not in value:
                raise ValueError("referralPattern needs at least one '#' placeholder")
            if len(value) < MIN_CODE_LENGTH:
                raise ValueError(f"referralPattern must be at least {MIN_CODE_LENGTH} characters")
        return value


# --- views and lookups ------------------------------------------------------------------------


class ReferralFields(Protocol):
    """What a referral's view reads: a TalonReferral, or a row of the inventory's prepared
    read (the referral table's columns by name)."""

    id: int
    campaign_id: int
    code: str
    advocate_profile_integration_id: str
    friend_profile_integration_id: str | None
    usage_limit: int
    usage_counter: int
    start_date: datetime | None
    expiry_date: datetime | None
    attributes: dict[str, Any]
    batch_id: str | None
    created: datetime


def referral_view(referral: ReferralFields) -> dict[str, Any]:
    """The `Referral` JSON of the API (optional keys left out when unset)."""
    view: dict[str, Any] = {
        "id": referral.id,
        "created": format_instant(referral.created),
        "campaignId": referral.campaign_id,
        "advocateProfileIntegrationId": referral.advocate_profile_integration_id,
        "code": referral.code,
        "usageCounter": referral.usage_counter,
        "usageLimit": referral.usage_limit,
        "attributes": dict(referral.attributes or {}),
    }
    if referral.friend_profile_integration_id is not None:
        view["friendProfileIntegrationId"] = referral.friend_profile_integration_id
    if referral.start_date is not None:
        view["startDate"] = format_instant(referral.start_date)
    if referral.expiry_date is not None:
        view["expiryDate"] = format_instant(referral.expiry_date)
    if referral.batch_id is not None:
        view["batchId"] = referral.batch_id
    return view


def find_referral(db: Store, tenant_id: str, code: str) -> TalonReferral | None:
    statement = select(TalonReferral).where(
        TalonReferral.tenant_id == tenant_id, TalonReferral.code == code
    )
    return db.exec(statement).first()


def referral_campaign_id(db: Store, tenant_id: str, code: str) -> int | None:
    """The campaign a referral code belongs to (lets the rule engine pick the campaign)."""
    referral = find_referral(db, tenant_id, code)
    return referral.campaign_id if referral else None


def check_campaign(db: Store, tenant_id: str, campaign_id: int) -> None:
    """400 unless the campaign exists and has the referrals feature."""

    campaign = get_campaign(db, tenant_id, campaign_id)
    if campaign is None:
        raise TalonOneError(
            400, f"Campaign {campaign_id} not found", title="Invalid value", pointer="/campaignId"
        )
    if "referrals" not in (campaign.get("features") or []):
        raise TalonOneError(
            400,
            f"Campaign {campaign_id} is not a referral campaign",
            title="Invalid value",
            pointer="/campaignId",
        )


# --- creation ---------------------------------------------------------------------------------


def generate_code(
    db: Store,
    tenant_id: str,
    seed: int,
    pattern: str | None = None,
    characters: list[str] | None = None,
) -> str:
    """A new unique code drawn from the seeded source (`#` in the pattern = one character)."""
    alphabet = characters or DEFAULT_CHARACTERS
    template = pattern or "#" * DEFAULT_CODE_LENGTH
    for _ in range(ATTEMPTS_PER_CODE):
        draw = next_value(db, tenant_id, "talonone.referral_code")
        rng = seeded_rng(seed, tenant_id, "talonone.referral", draw)
        code = "".join(rng.choice(alphabet) if char == "#" else char for char in template)
        if find_referral(db, tenant_id, code) is None:
            return code
    raise TalonOneError(
        400,
        "The referral pattern cannot produce enough unique codes",
        title="Invalid value",
        pointer="/referralPattern",
    )


def new_referral_row(
    db: Store,
    tenant_id: str,
    now: datetime,
    terms: ReferralTerms,
    *,
    code: str,
    advocate: str,
    friend: str | None = None,
    batch_id: str | None = None,
) -> TalonReferral:
    referral = TalonReferral(
        tenant_id=tenant_id,
        id=next_value(db, tenant_id, "talonone.referral"),
        campaign_id=terms.campaign_id,
        code=code,
        advocate_profile_integration_id=advocate,
        friend_profile_integration_id=friend,
        usage_limit=terms.usage_limit,
        start_date=terms.start_date,
        expiry_date=terms.expiry_date,
        attributes=dict(terms.attributes or {}),
        batch_id=batch_id,
        created=now,
    )
    db.add(referral)
    return referral


def check_dates(terms: ReferralTerms) -> None:
    if terms.start_date and terms.expiry_date and terms.expiry_date <= terms.start_date:
        raise TalonOneError(
            400,
            "expiryDate must be later than startDate",
            title="Invalid value",
            pointer="/expiryDate",
        )


def create_referral(
    db: Store, tenant_id: str, now: datetime, seed: int, request: NewReferral
) -> dict[str, Any]:
    """CreateReferral: one code for one advocate (campaign referral limits do not apply)."""
    check_campaign(db, tenant_id, request.campaign_id)
    check_dates(request)
    code = request.code
    if code is not None and find_referral(db, tenant_id, code) is not None:
        raise TalonOneError(
            400, f"Referral code {code!r} already exists", title="Duplicate", pointer="/code"
        )
    try:
        with db.begin_nested():
            referral = new_referral_row(
                db,
                tenant_id,
                now,
                request,
                code=code or generate_code(db, tenant_id, seed),
                advocate=request.advocate_profile_integration_id,
                friend=request.friend_profile_integration_id,
            )
    except IntegrityError:  # the same code created by a request running at the same time
        raise TalonOneError(
            400, "Referral code already exists", title="Duplicate", pointer="/code"
        ) from None
    return referral_view(referral)


def create_referrals_for_advocates(
    db: Store, tenant_id: str, now: datetime, seed: int, request: NewReferralsForMultipleAdvocates
) -> list[dict[str, Any]]:
    """CreateReferralsForMultipleAdvocates: one unique code per advocate, one batch."""
    check_campaign(db, tenant_id, request.campaign_id)
    check_dates(request)
    advocates = list(dict.fromkeys(request.advocate_profile_integration_ids))
    batch_number = next_value(db, tenant_id, "talonone.referral_batch")
    rng = seeded_rng(seed, tenant_id, "talonone.referral_batch", batch_number)
    batch_id = "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
    rows = [
        new_referral_row(
            db,
            tenant_id,
            now,
            request,
            code=generate_code(
                db, tenant_id, seed, request.referral_pattern, request.valid_characters
            ),
            advocate=advocate,
            batch_id=batch_id,
        )
        for advocate in advocates
    ]
    db.flush()
    return [referral_view(row) for row in rows]


# --- validation and redemption (called by the rule engine) ------------------------------------


def redeemed_by_session(db: Store, tenant_id: str, referral_id: int, session_id: str) -> bool:
    statement = select(TalonReferralRedemption.pk).where(
        TalonReferralRedemption.tenant_id == tenant_id,
        TalonReferralRedemption.referral_id == referral_id,
        TalonReferralRedemption.session_id == session_id,
    )
    return db.exec(statement).first() is not None


def validate_referral(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    code: str,
    campaign_id: int,
    profile_id: str | None,
    session_id: str | None = None,
) -> str | None:
    """None when the campaign may use this referral code for this friend, else the reason.

    `session_id` (optional): that session's own earlier redemption does not count.
    """
    referral = find_referral(db, tenant_id, code)
    if referral is None or referral.campaign_id != campaign_id:
        return NOT_FOUND
    if referral.start_date is not None and referral.start_date > now:
        return START_IN_FUTURE
    if referral.expiry_date is not None and referral.expiry_date <= now:
        return EXPIRED
    profile_id = profile_id or None
    if profile_id is not None and profile_id == referral.advocate_profile_integration_id:
        return SAME_AS_ADVOCATE
    friend = referral.friend_profile_integration_id
    if friend is not None and friend != profile_id:
        return RECIPIENT_MISMATCH
    if referral.usage_limit > 0:
        used = referral.usage_counter
        if session_id is not None and redeemed_by_session(db, tenant_id, referral.id, session_id):
            used -= 1
        if used >= referral.usage_limit:
            return LIMIT_REACHED
    return None


def redeem_referral(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    session_id: str,
    profile_id: str | None,
    code: str,
) -> None:
    """Count one use of the code by this (closing) session; a second call is a no-op."""
    referral = find_referral(db, tenant_id, code)
    if referral is None or redeemed_by_session(db, tenant_id, referral.id, session_id):
        return
    db.add(
        TalonReferralRedemption(
            tenant_id=tenant_id,
            referral_id=referral.id,
            session_id=session_id,
            profile_id=profile_id or None,
            created=now,
        )
    )
    db.execute(
        update(TalonReferral)
        .where(TalonReferral.tenant_id == tenant_id, TalonReferral.id == referral.id)
        .values(usage_counter=TalonReferral.usage_counter + 1)
    )
    db.flush()
    db.expire_all()


def release_referral(db: Store, tenant_id: str, *, session_id: str) -> None:
    """Give back the referral use of a cancelled (or reopened) session."""
    rows = db.exec(
        select(TalonReferralRedemption).where(
            TalonReferralRedemption.tenant_id == tenant_id,
            TalonReferralRedemption.session_id == session_id,
        )
    ).all()
    for row in rows:
        db.execute(
            update(TalonReferral)
            .where(TalonReferral.tenant_id == tenant_id, TalonReferral.id == row.referral_id)
            .values(
                usage_counter=case(
                    (TalonReferral.usage_counter > 0, TalonReferral.usage_counter - 1), else_=0
                )
            )
        )
        db.delete(row)
    db.flush()
    db.expire_all()


# --- the advocate's referrals (inventory) ------------------------------------------------------


REFERRALS = TalonReferral.__table__
REFERRAL_REDEMPTIONS = TalonReferralRedemption.__table__
# Built once, run on the DBAPI cursor (core/fastsql). Who redeemed the codes, in redemption
# order: the inventory's read lease, and the answers of writes (`autoflush`: what they added).
REFERRED_CUSTOMERS = fastsql.prepared(
    select(REFERRAL_REDEMPTIONS.c.referral_id, REFERRAL_REDEMPTIONS.c.profile_id)
    .where(
        REFERRAL_REDEMPTIONS.c.tenant_id == bindparam("tenant"),
        REFERRAL_REDEMPTIONS.c.referral_id.in_(bindparam("ids", expanding=True)),
        REFERRAL_REDEMPTIONS.c.profile_id.is_not(None),
    )
    .order_by(REFERRAL_REDEMPTIONS.c.pk),
    autoflush=True,
)
# The codes a profile advocates, on the advocate index, in id order, each with the profile of
# each of its redemptions (`friend`, on the redemptions' referral index, with the redemption's
# key to order them by; a code no one redeemed comes once, its friend None): one statement for
# the inventory's lease. Ordering by the redemption too would make a planner without statistics
# walk the tenant's codes in id order to save the sort.
ADVOCATED = fastsql.prepared(
    select(
        REFERRALS,
        REFERRAL_REDEMPTIONS.c.pk.label("redemption"),
        REFERRAL_REDEMPTIONS.c.profile_id.label("friend"),
    )
    .select_from(
        REFERRALS.outerjoin(
            REFERRAL_REDEMPTIONS,
            and_(
                same_tenant(REFERRAL_REDEMPTIONS.c.referral_id, REFERRALS.c.id),
                REFERRAL_REDEMPTIONS.c.profile_id.is_not(None),
            ),
        )
    )
    .where(
        REFERRALS.c.tenant_id == bindparam("tenant"),
        REFERRALS.c.advocate_profile_integration_id == bindparam("profile"),
    )
    .order_by(REFERRALS.c.id),
    autoflush=True,
)


def referred_customers(
    db: Store | fastsql.Lease, tenant_id: str, referral_ids: list[int]
) -> dict[int, list]:
    """Each code's friends (the profiles of its redemptions), first redemption first."""
    if not referral_ids:
        return {}
    parameters = {"tenant": tenant_id, "ids": referral_ids}
    return friends_by_referral(fastsql.execute(db, REFERRED_CUSTOMERS, parameters))


def friends_by_referral(redemptions: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    """Each code's friends from (referral id, friend) pairs in redemption order: each friend
    once, at their first redemption."""
    found: dict[int, dict[str, None]] = {}
    for referral_id, friend in redemptions:
        found.setdefault(referral_id, {}).setdefault(friend)
    return {referral_id: list(friends) for referral_id, friends in found.items()}


def profile_referrals(db: fastsql.Lease, tenant_id: str, profile_id: str) -> list[dict[str, Any]]:
    """The InventoryReferral list: the codes this profile advocates, with who used them."""
    rows = fastsql.execute(db, ADVOCATED, {"tenant": tenant_id, "profile": profile_id}).all()
    views: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.id not in views:
            views[row.id] = referral_view(row)
    redeemed = sorted(
        (row.redemption, row.id, row.friend) for row in rows if row.friend is not None
    )
    friends = friends_by_referral((referral_id, friend) for _key, referral_id, friend in redeemed)
    return [
        {**view, "referredCustomers": friends.get(referral_id, [])}
        for referral_id, view in views.items()
    ]


def delete_profile_data(db: Store, tenant_id: str, profile_id: str) -> None:
    """DeleteCustomerData: the codes the profile advocates or that are addressed to it go; its
    uses of other codes stay counted but no longer name it."""
    referencing = select(TalonReferral.id).where(
        TalonReferral.tenant_id == tenant_id,
        (TalonReferral.advocate_profile_integration_id == profile_id)
        | (TalonReferral.friend_profile_integration_id == profile_id),
    )
    ids = list(db.exec(referencing).all())
    if ids:
        db.execute(
            delete(TalonReferralRedemption).where(
                TalonReferralRedemption.tenant_id == tenant_id,
                TalonReferralRedemption.referral_id.in_(ids),
            )
        )
        db.execute(
            delete(TalonReferral).where(
                TalonReferral.tenant_id == tenant_id, TalonReferral.id.in_(ids)
            )
        )
    db.execute(
        update(TalonReferralRedemption)
        .where(
            TalonReferralRedemption.tenant_id == tenant_id,
            TalonReferralRedemption.profile_id == profile_id,
        )
        .values(profile_id=None)
    )


def session_referral(db: Store, tenant_id: str, code: str) -> dict | None:
    """The InventoryReferral of a session's referral code (responseContent referral)."""
    referral = find_referral(db, tenant_id, code)
    if referral is None:
        return None
    item = referral_view(referral)
    item["referredCustomers"] = referred_customers(db, tenant_id, [referral.id]).get(
        referral.id, []
    )
    return item
