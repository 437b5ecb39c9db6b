"""Tables shared by every API: tenants, the request journal, id sequences."""

from __future__ import annotations

import os
import random
import secrets
from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime

# Drawn from the system's entropy once per process (and again in a forked child): as unique as
# a system draw each time, without the system call (ledger versions are drawn on every
# loyalty write).
_tokens = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _tokens.seed(secrets.randbits(128)))


def fresh_token() -> int:
    """A random 62-bit value, for versions a reader may have cached (a tenant's cache revision,
    a ledger's version): one never comes back, not after a reset, not for a row deleted and
    created again."""
    return _tokens.getrandbits(62)


class Tenant(SQLModel, table=True):
    """A sandbox: its credentials for each API, its fixtures and its clock."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    customergauge_api_key: str = Field(unique=True, index=True, max_length=128)
    clienttoolbox_user_id: str = Field(max_length=128)
    clienttoolbox_user_api_key: str = Field(unique=True, index=True, max_length=128)
    clienttoolbox_account_id: str = Field(max_length=128)
    talonone_api_key: str = Field(unique=True, index=True, max_length=128)
    ecdp_api_key: str = Field(unique=True, index=True, max_length=128)
    fixtures_source: str = Field(default="", max_length=500)
    # Clock: frozen at `clock_frozen_at`, or real time shifted by `clock_offset_seconds`.
    clock_frozen: bool = False
    clock_frozen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clock_offset_seconds: float = 0.0
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Operator controls of a shared sandbox (None: no limit).
    quota_requests_per_second: int | None = None
    quota_records: int | None = None
    quota_journal_entries: int | None = None
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Changes with every write to what processes keep in memory between requests (a Talon.One
    # catalog, a fixtures load). The tenant row is read on every request anyway, so a process
    # knows at no cost whether what it keeps is still the store's (schema revision 0003).
    cache_revision: int = Field(
        default_factory=fresh_token,
        sa_type=BigInteger,
        sa_column_kwargs={"server_default": "0"},
    )


class TenantFixtures(SQLModel, table=True):
    """The fixture document a tenant was created from (JSON text), for reset.

    A row of its own (schema revision 0005), never read on a request: as a column of the
    tenant, which every request reads and a few writes change, a large document (24 MB for
    100,000 sessions) cost each read 15 ms (SQLite walks a row's columns in order) and each
    write of the row 150 ms or more (the document written again).
    """

    __tablename__ = "tenant_fixtures"

    tenant_id: str = Field(primary_key=True, max_length=64)
    document: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class TenantRate(SQLModel, table=True):
    """Requests counted per tenant and second, for the requests-per-second quota."""

    __tablename__ = "tenant_rate"

    tenant_id: str = Field(primary_key=True, max_length=64)
    second: int = Field(primary_key=True)
    count: int = 0


class JournalEntry(SQLModel, table=True):
    __tablename__ = "journal_entry"
    __table_args__ = (Index("ix_journal_tenant_id_id", "tenant_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str | None = Field(default=None, max_length=64)
    api: str = Field(max_length=32, index=True)
    operation: str = Field(default="", max_length=128)
    method: str = Field(max_length=10)
    path: str = Field(max_length=2000)
    query: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: int
    duration_ms: float
    fault: str | None = Field(default=None, max_length=200)
    request_headers: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    request_body: str = Field(default="", sa_column=Column(Text, nullable=False))
    response_body: str = Field(default="", sa_column=Column(Text, nullable=False))
    # Every header of the answer, as JSON (schema revision 0006; the Inspector shows them).
    response_headers: str = Field(
        default="{}", sa_column=Column(Text, nullable=False, server_default="{}")
    )
    # Indexed for `GET /__admin/requests?since=` (schema revision 0002).
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class IdSequence(SQLModel, table=True):
    """Per-tenant counters shared by every process (numeric ids, seeded code draws)."""

    __tablename__ = "id_sequence"

    tenant_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=100)
    value: int = 0
