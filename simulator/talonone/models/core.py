"""Talon.One tables: core part (configuration, customer profiles, sessions, events, returns,
idempotent responses, catalogs and their items).

Public ids (`id`) are per-tenant counters, so every table's primary key starts with tenant_id.
Profiles are referenced by their integration ID (a string), as the Integration API does.
Campaigns and attribute definitions are configuration: they live as JSON on one row per tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime

__all__ = [
    "TalonCatalog",
    "TalonCatalogItem",
    "TalonConfig",
    "TalonEvent",
    "TalonIdempotentResponse",
    "TalonProfile",
    "TalonReturn",
    "TalonSession",
]


class TalonConfig(SQLModel, table=True):
    """The application, attribute definitions and campaigns of one tenant (from fixtures)."""

    __tablename__ = "talonone_config"

    tenant_id: str = Field(primary_key=True, max_length=64)
    application_id: int = 1
    account_id: int = 1
    currency: str = "USD"
    application_name: str = "Sandbox application"
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    campaigns: list[Any] = Field(default_factory=list, sa_column=Column(JSON))


class TalonProfile(SQLModel, table=True):
    __tablename__ = "talonone_profile"
    __table_args__ = (
        Index("ux_talonone_profile_integration", "tenant_id", "integration_id", unique=True),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    integration_id: str = Field(max_length=1000)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created: datetime = Field(sa_type=UTCDateTime)
    last_activity: datetime = Field(sa_type=UTCDateTime)
    closed_sessions: int = 0
    total_sales: float = 0.0


class TalonSession(SQLModel, table=True):
    """A customer session; `data` holds what the integration sent (cart, costs, codes, ...)."""

    __tablename__ = "talonone_session"
    __table_args__ = (
        Index("ux_talonone_session_integration", "tenant_id", "integration_id", unique=True),
        # ending in id: a profile's newest sessions (the admin list) come in order off it
        Index("ix_talonone_session_profile", "tenant_id", "profile_id", "id"),
        # Open sessions with loyalty effects (their tentative figures), by profile and by card.
        Index(
            "ix_talonone_session_tentative_profile",
            "tenant_id",
            "profile_id",
            "updated",
            sqlite_where=text("tentative_card IS NOT NULL"),
            postgresql_where=text("tentative_card IS NOT NULL"),
        ),
        Index(
            "ix_talonone_session_tentative_card",
            "tenant_id",
            "tentative_card",
            "updated",
            sqlite_where=text("tentative_card != ''"),
            postgresql_where=text("tentative_card != ''"),
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    integration_id: str = Field(max_length=1000)
    profile_id: str = Field(default="", max_length=1000)
    state: str = "open"
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    effects: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    first_session: bool = True
    update_count: int = 1
    counted_sales: float = 0.0
    created: datetime = Field(sa_type=UTCDateTime)
    updated: datetime = Field(sa_type=UTCDateTime)
    # An open session with loyalty effects: the card they name ("" for the profile's ledgers),
    # so its tentative figures are found by profile or card; None otherwise.
    tentative_card: str | None = Field(default=None, max_length=108)


class TalonEvent(SQLModel, table=True):
    __tablename__ = "talonone_event"
    # ending in id: a profile's newest events (the admin list) come in order off it
    __table_args__ = (Index("ix_talonone_event_profile", "tenant_id", "profile_id", "id"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    type: str = Field(max_length=1000)
    profile_id: str = Field(default="", max_length=1000)
    session_id: str | None = Field(default=None, max_length=1000)
    store_integration_id: str | None = Field(default=None, max_length=1000)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    effects: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    created: datetime = Field(sa_type=UTCDateTime)


class TalonReturn(SQLModel, table=True):
    __tablename__ = "talonone_return"
    # A session's returns in order (`previousReturns`): ending in id, so SQLite need not walk
    # the primary key (tenant_id, id) for the order.
    __table_args__ = (
        Index("ix_talonone_return_session", "tenant_id", "session_integration_id", "id"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    session_id: int
    session_integration_id: str = Field(max_length=1000)
    profile_id: str = Field(default="", max_length=1000)
    event_id: int
    items: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    created: datetime = Field(sa_type=UTCDateTime)


class TalonIdempotentResponse(SQLModel, table=True):
    """A stored ReturnCartItems answer, replayed for the same `Idempotency-Key` for 24 h."""

    __tablename__ = "talonone_idempotent_response"

    tenant_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    session_integration_id: str = Field(max_length=1000)
    status: int = 200
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created: datetime = Field(sa_type=UTCDateTime)


class TalonCatalog(SQLModel, table=True):
    __tablename__ = "talonone_catalog"

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=1000)
    description: str = ""
    version: int = 1
    created: datetime = Field(sa_type=UTCDateTime)
    modified: datetime = Field(sa_type=UTCDateTime)


class TalonCatalogItem(SQLModel, table=True):
    __tablename__ = "talonone_catalog_item"
    __table_args__ = (Index("ix_talonone_catalog_item_sku", "tenant_id", "sku"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    catalog_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sku: str = Field(primary_key=True, max_length=1000)
    id: int
    price: float | None = None
    product_name: str | None = Field(default=None, max_length=1000)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
