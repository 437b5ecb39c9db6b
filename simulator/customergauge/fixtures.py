"""The `customergauge` fixture section: stream settings, OAuth clients, unsubscribe and bounce
lists, and (on export) the uploads and mail queue, so an exported tenant loads back the same."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from sqlalchemy import insert, select

from simulator.core.clock import as_utc, format_instant
from simulator.core.fixtures import FixtureSection, LoadContext
from simulator.core.ids import next_value
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.customergauge import service
from simulator.customergauge.generate import COUNTS as GENERATE_COUNTS
from simulator.customergauge.generate import generate
from simulator.customergauge.models import (
    LIST_BOUNCE,
    LIST_KINDS,
    LIST_UNSUBSCRIBE,
    MAIL_STATES,
    UPLOAD_FAILED,
    UPLOAD_PROCESSED,
    UPLOAD_QUEUED,
    CgConfig,
    CgListEntry,
    CgMail,
    CgOAuthClient,
    CgUpload,
)

TENANT_PLACEHOLDER = "{tenant}"


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return as_utc(value)


class OAuthClientFixture(BaseModel):
    """`{tenant}` in either value is replaced by the tenant id, so one fixture set gives each
    tenant its own client (a client id must name exactly one tenant)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    client_id: str = Field(min_length=1, max_length=150)
    client_secret: str = Field(min_length=1, max_length=150)


class ListEntryFixture(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    date: datetime | None = None
    user: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not service.is_valid_email(value):
            raise ValueError(f"not an email address: {value!r}")
        return value.strip()


class UploadFixture(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    id: int = Field(ge=1)
    status: Literal["Queued", "Processed", "Failed"] = UPLOAD_QUEUED
    received: datetime | None = None
    processed: datetime | None = None
    bytes: int = Field(default=0, ge=0)
    attempts: int = Field(default=0, ge=0)
    successful_records: int = Field(default=0, ge=0)
    unsuccessful_records: int = Field(default=0, ge=0)
    last_error: str | None = None
    logs: list[str] = Field(default_factory=list)
    records: list[dict[str, str]] = Field(default_factory=list)


class MailFixture(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    upload: int = Field(ge=1)
    record: int = Field(ge=1)
    email: str = Field(default="", max_length=320)
    status: Literal["queued", "sent", "suppressed", "invalid"]
    reason: str | None = None
    send_at: datetime | None = None
    sent_at: datetime | None = None
    created: datetime | None = None
    fields: dict[str, str] = Field(default_factory=dict)


def _entry_of(value: Any) -> Any:
    """A bare address is short for `{email: address}` (so errors name the entry's field)."""
    return {"email": value} if isinstance(value, str) else value


ListItem = Annotated[ListEntryFixture, BeforeValidator(_entry_of)]


class CustomerGaugeFixture(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    limits: Literal["enforce", "accept_and_log"] = "enforce"
    max_bytes: int = Field(default=2 * 1024 * 1024, ge=1)
    max_records: int = Field(default=2_000, ge=1)
    send_date_field: str | None = Field(default="order_date", max_length=100)
    send_delay_seconds: float = Field(default=0.0, ge=0)
    required_fields: list[str] = Field(default_factory=lambda: ["Email"])
    processing_ms_per_upload: float = Field(default=0.0, ge=0, le=600_000)
    processing_ms_per_record: float = Field(default=0.0, ge=0, le=60_000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_backoff_seconds: float = Field(default=1.0, ge=0, le=86_400)
    token_ttl_seconds: int = Field(default=3600, ge=1)
    worker_paused: bool = False
    oauth_clients: list[OAuthClientFixture] = Field(default_factory=list)
    unsubscribe: list[ListItem] = Field(default_factory=list)
    bounce: list[ListItem] = Field(default_factory=list)
    uploads: list[UploadFixture] = Field(default_factory=list)
    mail_queue: list[MailFixture] = Field(default_factory=list)

    @field_validator("unsubscribe", "bounce")
    @classmethod
    def _entries(cls, items: list[ListItem]) -> list[ListItem]:
        entries = list(items)
        counted = Counter(service.email_key(e.email) for e in entries)
        duplicates = sorted(key for key, times in counted.items() if times > 1)
        if duplicates:
            raise ValueError(f"listed more than once: {', '.join(duplicates)}")
        return entries

    @model_validator(mode="after")
    def _unique(self) -> CustomerGaugeFixture:
        ids = [c.client_id for c in self.oauth_clients]
        if len(ids) != len(set(ids)):
            raise ValueError("oauth_clients: each client_id may appear once")
        numbers = [u.id for u in self.uploads]
        if len(numbers) != len(set(numbers)):
            raise ValueError("uploads: each id may appear once")
        known = set(numbers)
        for mail in self.mail_queue:
            if mail.upload not in known:
                raise ValueError(f"mail_queue: upload {mail.upload} is not in uploads")
        return self


def load(db: Store, tenant: Tenant, fixture: CustomerGaugeFixture, context: LoadContext) -> None:
    db.add(
        CgConfig(
            tenant_id=tenant.id,
            limits_mode=fixture.limits,
            max_bytes=fixture.max_bytes,
            max_records=fixture.max_records,
            send_date_field=fixture.send_date_field or "",
            send_delay_seconds=fixture.send_delay_seconds,
            required_fields=json.dumps(fixture.required_fields),
            processing_ms_per_upload=fixture.processing_ms_per_upload,
            processing_ms_per_record=fixture.processing_ms_per_record,
            max_attempts=fixture.max_attempts,
            retry_backoff_seconds=fixture.retry_backoff_seconds,
            token_ttl_seconds=fixture.token_ttl_seconds,
            worker_paused=fixture.worker_paused,
        )
    )
    for client in fixture.oauth_clients:
        db.add(
            CgOAuthClient(
                tenant_id=tenant.id,
                client_id=client.client_id.replace(TENANT_PLACEHOLDER, tenant.id),
                client_secret=client.client_secret.replace(TENANT_PLACEHOLDER, tenant.id),
            )
        )
    # One multi-row INSERT: generated fixtures bring tens of thousands of entries.
    entries = [
        {
            "tenant_id": tenant.id,
            "kind": kind,
            "email": item.email,
            "email_key": service.email_key(item.email),
            "user": item.user,
            "reason": item.reason,
            "created_at": _aware(item.date) or context.now,
        }
        for kind, items in ((LIST_UNSUBSCRIBE, fixture.unsubscribe), (LIST_BOUNCE, fixture.bounce))
        for item in items
    ]
    if entries:
        db.flush()
        db.execute(insert(CgListEntry), entries)
    load_uploads(db, tenant, fixture, context)


def load_uploads(
    db: Store, tenant: Tenant, fixture: CustomerGaugeFixture, context: LoadContext
) -> None:
    for upload in fixture.uploads:
        db.add(
            CgUpload(
                tenant_id=tenant.id,
                number=upload.id,
                status=upload.status,
                body_bytes=upload.bytes,
                total_records=len(upload.records),
                successful_records=upload.successful_records,
                unsuccessful_records=upload.unsuccessful_records,
                records_json=json.dumps(upload.records, ensure_ascii=False),
                logs_json=json.dumps(upload.logs, ensure_ascii=False),
                attempts=upload.attempts,
                last_error=upload.last_error,
                next_attempt_at=context.now,
                received_at=_aware(upload.received) or context.now,
                processed_at=_aware(upload.processed),
            )
        )
    if fixture.uploads:
        # Later uploads are numbered after the highest one loaded.
        next_value(db, tenant.id, service.UPLOAD_SEQUENCE, max(u.id for u in fixture.uploads))
    rows = [
        {
            "tenant_id": tenant.id,
            "upload_number": mail.upload,
            "record_number": mail.record,
            "email": mail.email,
            "email_key": service.email_key(mail.email),
            "fields_json": json.dumps(mail.fields, ensure_ascii=False),
            "status": mail.status,
            "reason": mail.reason,
            "send_at": _aware(mail.send_at),
            "sent_at": _aware(mail.sent_at),
            "created_at": _aware(mail.created) or context.now,
        }
        for mail in fixture.mail_queue
    ]
    if rows:
        db.flush()
        db.execute(insert(CgMail), rows)


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


def export(db: Store, tenant: Tenant) -> dict[str, Any]:
    config = service.get_config(db, tenant.id)
    clients = db.execute(
        select(CgOAuthClient).where(CgOAuthClient.tenant_id == tenant.id).order_by(CgOAuthClient.id)
    ).scalars()
    document: dict[str, Any] = {
        "limits": config.limits_mode,
        "max_bytes": config.max_bytes,
        "max_records": config.max_records,
        "send_date_field": config.send_date_field or None,
        "send_delay_seconds": config.send_delay_seconds,
        "required_fields": service.required_fields(config),
        "processing_ms_per_upload": config.processing_ms_per_upload,
        "processing_ms_per_record": config.processing_ms_per_record,
        "max_attempts": config.max_attempts,
        "retry_backoff_seconds": config.retry_backoff_seconds,
        "token_ttl_seconds": config.token_ttl_seconds,
        "worker_paused": config.worker_paused,
        "oauth_clients": [
            {
                "client_id": c.client_id.replace(tenant.id, TENANT_PLACEHOLDER),
                "client_secret": c.client_secret.replace(tenant.id, TENANT_PLACEHOLDER),
            }
            for c in clients
        ],
    }
    for kind in LIST_KINDS:
        entries = service.list_entries(db, tenant.id, kind, limit=1_000_000)
        document[kind] = [
            {"email": e.email, "date": _instant(e.created_at), "user": e.user, "reason": e.reason}
            for e in entries
        ]
    document["uploads"] = [
        export_upload(u) for u in service.list_uploads(db, tenant.id, limit=10**9)
    ]
    mails = service.list_mails(db, tenant.id, limit=10**9)
    document["mail_queue"] = [
        {
            "upload": m.upload_number,
            "record": m.record_number,
            "email": m.email,
            "status": m.status,
            "reason": m.reason,
            "send_at": _instant(m.send_at),
            "sent_at": _instant(m.sent_at),
            "created": _instant(m.created_at),
            "fields": json.loads(m.fields_json or "{}"),
        }
        for m in mails
        if m.status in MAIL_STATES
    ]
    return document


def export_upload(upload: CgUpload) -> dict[str, Any]:
    # An upload caught mid-processing is exported as queued: loading it processes it again.
    status = upload.status if upload.status in (UPLOAD_PROCESSED, UPLOAD_FAILED) else UPLOAD_QUEUED
    return {
        "id": upload.number,
        "status": status,
        "received": _instant(upload.received_at),
        "processed": _instant(upload.processed_at),
        "bytes": upload.body_bytes,
        "attempts": upload.attempts,
        "successful_records": upload.successful_records,
        "unsuccessful_records": upload.unsuccessful_records,
        "last_error": upload.last_error,
        "logs": service.upload_logs(upload),
        "records": json.loads(upload.records_json or "[]"),
    }


SECTION = FixtureSection(
    name="customergauge",
    schema=CustomerGaugeFixture,
    load=load,
    export=export,
    generate=generate,
    counts=GENERATE_COUNTS,
    list_keys={
        "oauth_clients": ("client_id",),
        "unsubscribe": ("email",),  # a bare address is its own key
        "bounce": ("email",),
        "uploads": ("id",),
    },
)
