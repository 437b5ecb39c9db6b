"""Talon.One tables: what the points ledger looked like before (balances as of any date).

A lot keeps only its current `remaining` and `revoked`, a ledger its current `debt`; every
change of them is also written here, with the tenant-clock instant it happened at, so that a
balance asked for an earlier instant subtracts what changed after it (`service/loyalty/asof`).
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

__all__ = ["TalonLoyaltyMovement"]


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
