"""CustomerGauge tables: per-tenant settings, OAuth clients and tokens, uploads, mail queue, lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime

# Upload states as the file-status endpoint prints them.
UPLOAD_QUEUED = "Queued"
UPLOAD_PROCESSING = "Processing"
UPLOAD_PROCESSED = "Processed"
UPLOAD_FAILED = "Failed"
OPEN_UPLOAD_STATES = (UPLOAD_QUEUED, UPLOAD_PROCESSING)

# Mail-queue states.
MAIL_QUEUED = "queued"
MAIL_SENT = "sent"
MAIL_SUPPRESSED = "suppressed"
MAIL_INVALID = "invalid"
MAIL_STATES = (MAIL_QUEUED, MAIL_SENT, MAIL_SUPPRESSED, MAIL_INVALID)

LIST_UNSUBSCRIBE = "unsubscribe"
LIST_BOUNCE = "bounce"
LIST_KINDS = (LIST_UNSUBSCRIBE, LIST_BOUNCE)  # unsubscribe first: it wins where both list one

LIMITS_ENFORCE = "enforce"
LIMITS_ACCEPT_AND_LOG = "accept_and_log"


class CgConfig(SQLModel, table=True):
    """One row per tenant: how its stream behaves (absent row = the defaults)."""

    __tablename__ = "cg_config"

    tenant_id: str = Field(primary_key=True, max_length=64)
    limits_mode: str = Field(default=LIMITS_ENFORCE, max_length=20)
    max_bytes: int = 2 * 1024 * 1024
    max_records: int = 2_000
    send_date_field: str = Field(default="order_date", max_length=100)
    send_delay_seconds: float = 0.0
    required_fields: str = Field(default='["Email"]', sa_column=Column(Text, nullable=False))
    processing_ms_per_upload: float = 0.0
    processing_ms_per_record: float = 0.0
    max_attempts: int = 5
    retry_backoff_seconds: float = 1.0
    token_ttl_seconds: int = 3600
    worker_paused: bool = False


class CgOAuthClient(SQLModel, table=True):
    __tablename__ = "cg_oauth_client"
    __table_args__ = (UniqueConstraint("tenant_id", "client_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    client_id: str = Field(index=True, max_length=200)
    client_secret: str = Field(max_length=200)


class CgAccessToken(SQLModel, table=True):
    __tablename__ = "cg_access_token"
    __table_args__ = (UniqueConstraint("tenant_id", "token"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    token: str = Field(index=True, max_length=200)
    client_id: str = Field(max_length=200)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class CgUpload(SQLModel, table=True):
    """One accepted POST stream/transactional: its records, queue state and result."""

    __tablename__ = "cg_upload"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_cg_upload_tenant_status_id", "tenant_id", "status", "id"),
        Index("ix_cg_upload_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    number: int  # the id the API shows, counted per tenant
    status: str = Field(default=UPLOAD_QUEUED, max_length=20)
    body_bytes: int = 0
    total_records: int = 0
    successful_records: int = 0
    unsuccessful_records: int = 0
    records_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    logs_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Real time (the worker's time, not the tenant's): when it may be tried again, lease end.
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=100)
    # Tenant-clock instants.
    received_at: datetime = Field(sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CgMail(SQLModel, table=True):
    """A mail-queue entry: one per record of a processed upload."""

    __tablename__ = "cg_mail"
    __table_args__ = (
        Index("ix_cg_mail_tenant_status_send", "tenant_id", "status", "send_at"),
        Index("ix_cg_mail_status_tenant", "status", "tenant_id"),
        Index("ix_cg_mail_tenant_upload", "tenant_id", "upload_number", "record_number"),
        Index("ix_cg_mail_tenant_email", "tenant_id", "email_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    upload_number: int
    record_number: int
    email: str = Field(default="", max_length=320)
    email_key: str = Field(default="", max_length=320)  # lower-cased, for list matching
    fields_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=500)
    send_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CgListEntry(SQLModel, table=True):
    """An address on the tenant's unsubscribe or bounce list."""

    __tablename__ = "cg_list_entry"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "email_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=20)
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320)
    user: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
