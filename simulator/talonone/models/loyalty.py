"""Talon.One tables: loyalty part (programs, tiers, cards, the points ledger).

A ledger is one (program, owner, subledger): the owner is a profile integration ID
(`profile_id`, card "" ) in a profile-based program, or a card identifier (`card_identifier`,
profile "") in a card-based one. Balances are never stored: they are summed from the lots at
the instant asked for, comparing each lot's dates with that instant (no background job).

- `TalonLoyaltyLot`: one addition of points, with the unused `remaining` amount kept on the row
  so a balance read is one aggregate over the owner's lots, never a replay of the history.
- `TalonLoyaltyTransaction`: every change, as the API lists it (addition / subtraction).
- `TalonLoyaltySpend`: which lots a subtraction consumed, so a rollback restores exactly them.
- `TalonLoyaltyLedger`: per ledger, the debt (negative balance) and the join date.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime

NO_START = -1.0
NEVER = 1e15  # far beyond any clock: "not yet" / "never"

__all__ = [
    "TalonLoyaltyCard",
    "TalonLoyaltyCardProfile",
    "TalonLoyaltyLedger",
    "TalonLoyaltyLot",
    "TalonLoyaltyProgram",
    "TalonLoyaltySpend",
    "TalonLoyaltyTransaction",
]


class TalonLoyaltyProgram(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_program"

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=255)
    title: str = Field(max_length=255)
    description: str = ""
    card_based: bool = False
    subledgers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    default_pending: str = "immediate"  # immediate | on_action | a duration like "7D"
    default_validity: str = "unlimited"  # unlimited | a duration like "30D"
    allow_negative_balance: bool = False
    active_points_deduction: bool = True  # returns and cancels may take back active points
    users_per_card_limit: int = 0  # 0 = unlimited
    card_default_status: str = "active"
    card_code_settings: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    tiers: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    tiers_downgrade_policy: str = "one_down"
    join_policy: str = "not_join"
    created: datetime = Field(sa_type=UTCDateTime)


class TalonLoyaltyCard(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_card"
    __table_args__ = (
        Index(
            "ux_talonone_loyalty_card_identifier",
            "tenant_id",
            "program_id",
            "identifier",
            unique=True,
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    program_id: int
    identifier: str = Field(max_length=108)
    status: str = Field(default="active", max_length=20)
    block_reason: str | None = None
    batch_id: str | None = Field(default=None, max_length=100)
    created: datetime = Field(sa_type=UTCDateTime)
    modified: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TalonLoyaltyCardProfile(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_card_profile"
    # Covering (a profile's card ids), so it wins over the primary key (tenant_id, card_id, ...).
    __table_args__ = (
        Index("ix_talonone_loyalty_card_profile_profile", "tenant_id", "profile_id", "card_id"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    card_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    profile_id: str = Field(primary_key=True, max_length=1000)
    timestamp: datetime = Field(sa_type=UTCDateTime)


class TalonLoyaltyLedger(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_ledger"
    __table_args__ = (
        # A profile's own ledgers across programs (the inventory's join dates): the primary key
        # starts with program_id, so without this a read walks the tenant's every ledger.
        Index(
            "ix_talonone_loyalty_ledger_profile",
            "tenant_id",
            "profile_id",
            "card_identifier",
            "program_id",
            "joined",
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    program_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    profile_id: str = Field(primary_key=True, max_length=1000)
    card_identifier: str = Field(primary_key=True, max_length=108)
    subledger_id: str = Field(primary_key=True, max_length=64)
    debt: float = 0.0
    version: int = Field(default=0, sa_type=BigInteger)  # changed by every write (read caches)
    joined: datetime = Field(sa_type=UTCDateTime)


class TalonLoyaltyLot(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_lot"
    __table_args__ = (
        # Covering index of the balance aggregate: a read never touches the table itself.
        Index(
            "ix_talonone_loyalty_lot_owner",
            "tenant_id",
            "program_id",
            "profile_id",
            "card_identifier",
            "subledger_id",
            "start_ts",
            "expiry_ts",
            "remaining",
            "amount",
            "revoked",
        ),
        # An owner's lots in id order (the points lists' default sort): a page stops after its
        # rows, where the covering index above would sort every lot of the owner first.
        Index(
            "ix_talonone_loyalty_lot_owner_id",
            "tenant_id",
            "program_id",
            "profile_id",
            "card_identifier",
            "id",
        ),
        # A session's lots of a program in posting order (ActivateLoyaltyPoints by session).
        Index("ix_talonone_loyalty_lot_session", "tenant_id", "session_id", "program_id", "id"),
        # A transaction's lots (a rollback; ActivateLoyaltyPoints by transaction UUID).
        Index(
            "ix_talonone_loyalty_lot_transaction", "tenant_id", "transaction_uuid", "transaction_id"
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    program_id: int
    profile_id: str = Field(default="", max_length=1000)
    card_identifier: str = Field(default="", max_length=108)
    subledger_id: str = Field(default="", max_length=64)
    transaction_id: int
    transaction_uuid: str = Field(max_length=64)
    session_id: str | None = Field(default=None, max_length=255)
    name: str = Field(default="", max_length=255)
    amount: float
    remaining: float
    revoked: float = 0.0  # taken back by a rollback (not "spent")
    on_action: bool = False  # pending until activated (validity_duration then applies)
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None = immediate
    expiry_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None = unlimited
    # The same instants as epoch seconds, for the status tests of the balance aggregate:
    # immediate = NO_START, awaiting activation = NEVER, unlimited = NEVER.
    start_ts: float = NO_START
    expiry_ts: float = NEVER
    start_text: str = Field(default="immediate", max_length=64)
    expiry_text: str = Field(default="unlimited", max_length=64)
    validity_duration: str | None = Field(default=None, max_length=32)
    created: datetime = Field(sa_type=UTCDateTime)


class TalonLoyaltyTransaction(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_transaction"
    __table_args__ = (
        Index(
            "ix_talonone_loyalty_tx_owner",
            "tenant_id",
            "program_id",
            "profile_id",
            "card_identifier",
            "id",
        ),
        # A session's transactions in posting order (its effects rolled back or replayed).
        Index("ix_talonone_loyalty_tx_session", "tenant_id", "session_id", "id"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    program_id: int
    profile_id: str = Field(default="", max_length=1000)
    card_identifier: str = Field(default="", max_length=108)
    subledger_id: str = Field(default="", max_length=64)
    uuid: str = Field(max_length=64)
    type: str = Field(max_length=20)  # addition | subtraction
    kind: str = Field(default="session", max_length=20)  # manual | session | import
    # what the row did: add, deduct, rollback_add, rollback_deduct
    action: str = Field(default="add", max_length=20)
    name: str = Field(default="", max_length=255)
    amount: float
    session_id: str | None = Field(default=None, max_length=255)
    campaign_id: int | None = None
    ruleset_id: int | None = None
    rule_index: int | None = None
    rule_name: str | None = None
    start_text: str = Field(default="immediate", max_length=64)
    expiry_text: str = Field(default="unlimited", max_length=64)
    validity_duration: str | None = Field(default=None, max_length=32)
    creates_negative: bool = False
    related_uuid: str | None = Field(default=None, max_length=64)  # what a rollback undid
    created: datetime = Field(sa_type=UTCDateTime)


class TalonLoyaltySpend(SQLModel, table=True):
    __tablename__ = "talonone_loyalty_spend"
    __table_args__ = (Index("ix_talonone_loyalty_spend_tx", "tenant_id", "transaction_id"),)

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64, index=True)
    transaction_id: int
    lot_id: int | None = None  # None = the part that became debt
    amount: float
