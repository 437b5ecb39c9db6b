"""ECDP tables: the business unit's settings, attribute and consent definitions, customers and
the confirmation messages sent for consents set to AwaitingConfirmation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime


class EcdpSettings(SQLModel, table=True):
    """Settings > Customers of the business unit (one row per tenant, optional)."""

    __tablename__ = "ecdp_settings"

    tenant_id: str = Field(primary_key=True, max_length=64)
    # Email | PhoneNumber | CrmId | GUID | VisitorId, or None (any matchBy accepted).
    default_identification_field: str | None = Field(default=None, max_length=16)
    # Shape of `errors` in validation problems: "list" (the documented sample, strings
    # "data[3].email: message") or "map" (ASP.NET ValidationProblemDetails, path -> messages).
    validation_errors: str = Field(default="list", max_length=8)


class EcdpAttribute(SQLModel, table=True):
    """A custom attribute definition (GET /customerattributes)."""

    __tablename__ = "ecdp_attribute"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id", name="uq_ecdp_attribute_id"),
        UniqueConstraint("tenant_id", "name_key", name="uq_ecdp_attribute_name"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    id: int
    name: str = Field(max_length=256)
    name_key: str = Field(max_length=256)  # lower-case name: matched case-insensitively
    type: str = Field(max_length=16)
    # SingleSelect choices, JSON list of strings.
    options: str = Field(default="[]", sa_column=Column(Text, nullable=False))


class EcdpConsent(SQLModel, table=True):
    """A consent definition (GET /customerconsents)."""

    __tablename__ = "ecdp_consent"
    __table_args__ = (UniqueConstraint("tenant_id", "id", name="uq_ecdp_consent_id"),)

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    id: int
    name: str = Field(max_length=256)
    type: str = Field(max_length=16)


class EcdpCustomer(SQLModel, table=True):
    """A customer. Identifiers have normalised `*_key` columns behind unique per-tenant indexes,
    so every lookup is one indexed query."""

    __tablename__ = "ecdp_customer"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id", name="uq_ecdp_customer_id"),
        Index("ux_ecdp_customer_email", "tenant_id", "email_key", unique=True),
        Index("ux_ecdp_customer_phone", "tenant_id", "phone_key", unique=True),
        Index("ux_ecdp_customer_crm", "tenant_id", "crm_id", unique=True),
        Index("ux_ecdp_customer_guid", "tenant_id", "guid", unique=True),
        Index("ux_ecdp_customer_visitor", "tenant_id", "visitor_id", unique=True),
    )

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    id: int
    guid: str = Field(max_length=38)
    email: str | None = Field(default=None, max_length=320)
    email_key: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    phone_key: str | None = Field(default=None, max_length=20)
    crm_id: str | None = Field(default=None, max_length=128)
    visitor_id: str | None = Field(default=None, max_length=38)
    first_name: str | None = Field(default=None, max_length=256)
    last_name: str | None = Field(default=None, max_length=256)
    date_of_birth: datetime | None = Field(default=None, sa_type=UTCDateTime)
    gender: str | None = Field(default=None, max_length=16)
    # Custom attribute values `{name: value}` and consents `{id: value}`, JSON text.
    attributes: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    consents: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # Computed figures (from fixtures; zero/null otherwise).
    rfm_segment: str | None = Field(default=None, max_length=64)
    total_spent: float = 0.0
    total_orders: int = 0
    total_order_returns: int = 0
    avg_order: float = 0.0
    avg_price_point: float = 0.0
    last_order: datetime | None = Field(default=None, sa_type=UTCDateTime)
    avg_time_between_orders_in_days: float = 0.0
    currency_symbol: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class EcdpConfirmation(SQLModel, table=True):
    """A consent confirmation message "sent" to a customer (double opt-in)."""

    __tablename__ = "ecdp_confirmation"
    __table_args__ = (UniqueConstraint("tenant_id", "id", name="uq_ecdp_confirmation_id"),)

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    id: int
    customer_id: int = Field(index=True)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    # JSON list of consent ids awaiting confirmation through this message.
    consent_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    confirmation_message_id: int | None = None
    forced: bool = False
    confirmed: bool = False
    sent_at: datetime = Field(sa_type=UTCDateTime)
