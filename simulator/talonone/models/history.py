"""Talon.One tables: what was before. The points ledger's past (balances as of any date) and
the catalog items' past prices (best prior price).

A lot keeps only its current `remaining` and `revoked`, a ledger its current `debt`; every
change of them is also written here, with the tenant-clock instant it happened at, so that a
balance asked for an earlier instant subtracts what changed after it (`service/loyalty/asof`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime

__all__ = ["TalonLoyaltyMovement", "TalonPriceObservation"]


class TalonLoyaltyMovement(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_movement"
    __table_args__ = (
        Index(
            "ix_talonone_loyalty_movement_owner",
            "tenant_id",
            "program_id",
            "profile_id",
            "card_identifier",
            "at_ts",
        ),
    )

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    program_id: int
    profile_id: str = Field(default="", max_length=1000)
    card_identifier: str = Field(default="", max_length=108)
    subledger_id: str = Field(default="", max_length=64)
    lot_id: int | None = None  # None: a change of the ledger's debt
    at_ts: float  # epoch seconds on the tenant clock
    remaining: float = 0.0  # what the lot's remaining points changed by
    revoked: float = 0.0  # what the lot's revoked points changed by
    debt: float = 0.0  # what the ledger's debt changed by


class TalonPriceObservation(SQLModel, table=True):
    """A catalog item's price as observed at an instant of the tenant clock: written by every
    SyncCatalog that sets a new price, by a fixture load for the items it brings (or as the
    document's `priceHistory` says). `audience_id` None: the price for everyone."""

    __tablename__ = "talonone_price_observation"
    __table_args__ = (
        Index("ix_talonone_price_observation_sku", "tenant_id", "sku", "observed_at"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sku: str = Field(max_length=1000)
    price: float
    observed_at: datetime = Field(sa_type=UTCDateTime)
    audience_id: int | None = None
    context_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
