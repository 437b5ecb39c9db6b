"""ClientToolbox tables: account settings, campaigns, rewards, custom fields, customers,
balances, transactions and undo states. Every key starts with `tenant_id`.

Customers are keyed by their `code` (the customer UID: given by the integrator or generated as a
16-digit id), so batches can address rows without reading generated keys back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime


class CtAccount(SQLModel, table=True):
    """Per-tenant account settings of the ClientToolbox API."""

    __tablename__ = "ct_account"

    tenant_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    # What customers_batch does with a header it does not know: "error" or "ignore".
    unknown_fields: str = Field(default="error", max_length=10)


class CtCampaign(SQLModel, table=True):
    __tablename__ = "ct_campaign"

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    type: str = Field(max_length=16)  # points | giftcard | events | earned | buyx
    points_ratio: float | None = None  # points per currency unit (apply_ratio on points)
    reward_ratio: float | None = None
    earned_per_event: float | None = None  # money per event (earned campaigns)
    buy_x: int | None = None  # items to accumulate for one free item (buyx default)
    currency: str = Field(default="", max_length=8)
    glyph: str = Field(default="", max_length=8)
    created_stamp: datetime = Field(sa_type=UTCDateTime)
    # buyx items as JSON: [{"id": "45678", "description": "Coffees", "buy_x": 10}]
    items: str = Field(default="[]", sa_column=Column(Text, nullable=False))


class CtReward(SQLModel, table=True):
    __tablename__ = "ct_reward"

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True)  # the reward's unique id, `<id>` of campaign_rewards
    campaign_id: str = Field(max_length=64, index=True)
    level: float  # cost in points (points) or events (events)
    description: str = Field(default="", max_length=500)
    reward_id: str | None = Field(default=None, max_length=64)  # optional SKU


class CtCustomField(SQLModel, table=True):
    __tablename__ = "ct_custom_field"

    tenant_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=32)  # custom_field_N
    label: str = Field(default="", max_length=200)
    type: str = Field(default="Text", max_length=16)
    show: bool = True
    required: bool = False
    choices: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list


class CtCustomer(SQLModel, table=True):
    __tablename__ = "ct_customer"
    __table_args__ = (Index("ux_ct_customer_card", "tenant_id", "card_number", unique=True),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    code: str = Field(primary_key=True, max_length=64)
    card_number: str | None = Field(default=None, max_length=64)
    first_name: str = Field(default="", max_length=255)
    last_name: str = Field(default="", max_length=255)
    email: str = Field(default="", max_length=255)
    phone: str = Field(default="", max_length=255)
    custom_date: str = Field(default="", max_length=10)
    street1: str = Field(default="", max_length=255)
    street2: str = Field(default="", max_length=255)
    city: str = Field(default="", max_length=255)
    state: str = Field(default="", max_length=255)
    postal_code: str = Field(default="", max_length=255)
    country: str = Field(default="", max_length=255)
    customer_username: str = Field(default="", max_length=255)
    customer_password: str = Field(default="", max_length=255)
    customer_pin: str = Field(default="", max_length=255)
    custom_fields: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    # The batch that last wrote this customer, its balances or transactions (0: fixtures).
    last_batch: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CtBalance(SQLModel, table=True):
    """A customer's balance in a campaign; buyx campaigns keep one row per item."""

    __tablename__ = "ct_balance"
    __table_args__ = (Index("ix_ct_balance_campaign", "tenant_id", "campaign_id"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    customer_code: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(primary_key=True, max_length=64)
    item: str = Field(default="", primary_key=True, max_length=255)
    balance: float = 0.0


class CtTransaction(SQLModel, table=True):
    __tablename__ = "ct_transaction"
    __table_args__ = (
        Index("ix_ct_transaction_customer", "tenant_id", "customer_code"),
        Index("ix_ct_transaction_batch", "tenant_id", "batch_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64, index=True)
    customer_code: str = Field(max_length=64)
    campaign_id: str = Field(max_length=64)
    redeemed: bool = False
    amount: str = Field(default="", max_length=64)  # as given on the line
    value: float = 0.0  # signed effect on the balance
    item: str = Field(default="", max_length=255)
    date: str = Field(max_length=10)  # YYYY-MM-DD
    authorization: str = Field(default="", max_length=500)
    promo_id: str = Field(default="", max_length=255)
    send_email: bool = False
    custom_fields: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    batch_id: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)


class CtUndoState(SQLModel, table=True):
    """The before-image of everything one batch touched, so the batch can be undone."""

    __tablename__ = "ct_undo_state"

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True)  # the batch number
    batch_type: str = Field(max_length=32)
    lines: int = 0
    summary: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # {"columns": [...], "customers": {code: [values] or null (created)},
    #  "balances": [[code, campaign, item, balance or null (created)]]}
    before: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: str = Field(default="available", max_length=16)  # available | undone
    created_at: datetime = Field(sa_type=UTCDateTime)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
