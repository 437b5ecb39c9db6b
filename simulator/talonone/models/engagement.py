"""Talon.One tables: engagement part (coupons and reservations, referrals, audiences, and the
giveaways / achievements that fixtures may declare for the customer inventory).

Public ids (`id`) are per-tenant counters, so every table's primary key starts with tenant_id.
Profiles are referenced by their integration ID (a string), as the Integration API does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime

__all__ = [
    "TalonAudience",
    "TalonAudienceMembership",
    "TalonCoupon",
    "TalonCouponRedemption",
    "TalonCouponReservation",
    "TalonInventoryExtra",
    "TalonReferral",
    "TalonReferralRedemption",
]


class TalonCoupon(SQLModel, table=True):
    __tablename__ = "talonone_coupon"
    __table_args__ = (
        Index("ux_talonone_coupon_value", "tenant_id", "value", unique=True),
        Index("ix_talonone_coupon_recipient", "tenant_id", "recipient_integration_id"),
        # The coupons visible to every profile (a profile's inventory reads them).
        Index("ix_talonone_coupon_implicit", "tenant_id", "implicitly_reserved", "id"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    campaign_id: int
    value: str = Field(max_length=100)
    usage_limit: int = 0  # 0 = unlimited
    usage_counter: int = 0
    discount_limit: float | None = None  # None / 0 = no coupon budget
    discount_counter: float = 0.0
    reservation_limit: int = 0
    reservation: bool = True  # False = a personal code, reservable by one profile only
    is_reservation_mandatory: bool = False
    implicitly_reserved: bool = False
    recipient_integration_id: str | None = Field(default=None, max_length=1000)
    start_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expiry_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    limits: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    batch_id: str | None = Field(default=None, max_length=100)
    created: datetime = Field(sa_type=UTCDateTime)


class TalonCouponReservation(SQLModel, table=True):
    __tablename__ = "talonone_coupon_reservation"
    __table_args__ = (
        # Covering (the reserved coupon ids of a profile), so it wins over the primary key.
        Index(
            "ix_talonone_coupon_reservation_profile",
            "tenant_id",
            "profile_integration_id",
            "coupon_id",
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    coupon_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    profile_integration_id: str = Field(primary_key=True, max_length=1000)
    created: datetime = Field(sa_type=UTCDateTime)


class TalonCouponRedemption(SQLModel, table=True):
    """One coupon redeemed by one closed session; deleted again when the session is cancelled."""

    __tablename__ = "talonone_coupon_redemption"
    __table_args__ = (
        Index("ix_talonone_coupon_redemption_session", "tenant_id", "session_id"),
        Index("ix_talonone_coupon_redemption_coupon", "tenant_id", "coupon_id", "profile_id"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64, index=True)
    coupon_id: int
    session_id: str = Field(max_length=1000)
    profile_id: str | None = Field(default=None, max_length=1000)
    discount: float = 0.0
    created: datetime = Field(sa_type=UTCDateTime)


class TalonReferral(SQLModel, table=True):
    __tablename__ = "talonone_referral"
    __table_args__ = (
        Index("ux_talonone_referral_code", "tenant_id", "code", unique=True),
        # An advocate's codes in id order: without `id` a planner without statistics walks the
        # primary key (the tenant's every code) to save the sort.
        Index(
            "ix_talonone_referral_advocate",
            "tenant_id",
            "advocate_profile_integration_id",
            "id",
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    campaign_id: int
    code: str = Field(max_length=100)
    advocate_profile_integration_id: str = Field(max_length=1000)
    friend_profile_integration_id: str | None = Field(default=None, max_length=1000)
    usage_limit: int = 0  # 0 = unlimited
    usage_counter: int = 0
    start_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expiry_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    batch_id: str | None = Field(default=None, max_length=100)
    created: datetime = Field(sa_type=UTCDateTime)


class TalonReferralRedemption(SQLModel, table=True):
    """One referral code redeemed by one closed session (the friend is its profile)."""

    __tablename__ = "talonone_referral_redemption"
    __table_args__ = (
        Index("ix_talonone_referral_redemption_session", "tenant_id", "session_id"),
        Index("ix_talonone_referral_redemption_referral", "tenant_id", "referral_id"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64, index=True)
    referral_id: int
    session_id: str = Field(max_length=1000)
    profile_id: str | None = Field(default=None, max_length=1000)
    created: datetime = Field(sa_type=UTCDateTime)


class TalonAudience(SQLModel, table=True):
    __tablename__ = "talonone_audience"

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=1000)
    description: str | None = None
    integration: str | None = Field(default=None, max_length=200)
    integration_id: str | None = Field(default=None, max_length=1000)
    created_in_3rd_party: bool | None = None
    last_update: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sandbox: bool | None = None
    created: datetime = Field(sa_type=UTCDateTime)


class TalonAudienceMembership(SQLModel, table=True):
    __tablename__ = "talonone_audience_membership"
    __table_args__ = (
        # A profile's audiences (every session update's rule conditions): the per-profile
        # lookup, covering, so no planner prefers the primary key's (tenant_id, audience_id, ...)
        # and walks all the tenant's memberships (statistics or not).
        Index(
            "ix_talonone_audience_membership_profile",
            "tenant_id",
            "profile_integration_id",
            "audience_id",
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    audience_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    profile_integration_id: str = Field(primary_key=True, max_length=1000)
    created: datetime = Field(sa_type=UTCDateTime)


class TalonInventoryExtra(SQLModel, table=True):
    """Giveaways and achievements declared by fixtures for a profile's inventory (`kind`)."""

    __tablename__ = "talonone_inventory_extra"
    __table_args__ = (
        Index("ix_talonone_inventory_extra_profile", "tenant_id", "profile_integration_id"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=20)  # giveaway | achievement
    profile_integration_id: str = Field(max_length=1000)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
