"""CustomerGauge domain: accepting stream uploads, processing them into the mail queue, sending,
the unsubscribe and bounce lists, upload status, and OAuth2 client-credentials tokens.

Plain functions over a session, a tenant id and instants; the worker (worker.py) and the routes
call them. `now` is always the tenant's clock; `real_now` (leases, retry back-off) is wall time.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Integer, and_, bindparam, delete, func, select, update

from simulator.core import fastsql
from simulator.core.db import UTCDateTime, table_of
from simulator.core.ids import next_value, random_secret
from simulator.core.models import Tenant
from simulator.core.storable import bad_text, fits
from simulator.core.store import Store
from simulator.customergauge.errors import DATA_TOO_LARGE, CustomerGaugeError
from simulator.customergauge.models import (
    LIMITS_ENFORCE,
    LIST_BOUNCE,
    LIST_KINDS,
    LIST_UNSUBSCRIBE,
    MAIL_INVALID,
    MAIL_QUEUED,
    MAIL_SENT,
    MAIL_SUPPRESSED,
    OPEN_UPLOAD_STATES,
    UPLOAD_FAILED,
    UPLOAD_PROCESSED,
    UPLOAD_PROCESSING,
    UPLOAD_QUEUED,
    CgAccessToken,
    CgConfig,
    CgListEntry,
    CgMail,
    CgOAuthClient,
    CgUpload,
)
from simulator.customergauge.xmlinput import XmlInputError, parse_records, xml_from_body

UPLOAD_SEQUENCE = "customergauge.upload"
# The documented datetime format `YYYY-mm-dd H:i:s`, and the shorter forms accepted with it.
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
EMAIL_PATTERN = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
LIST_REASONS = {
    LIST_UNSUBSCRIBE: "Email address is on the unsubscribe list",
    LIST_BOUNCE: "Email address is on the bounce list",
}
# How long a claimed upload stays claimed beyond its expected processing time.
LEASE_MARGIN_SECONDS = 60.0


def cg_date(value: datetime) -> str:
    """Instants as CustomerGauge prints them: `2018-10-13 11:56:48` (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_cg_date(value: str) -> datetime | None:
    text = value.strip()
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def email_key(email: str) -> str:
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    return bool(EMAIL_PATTERN.match(email.strip())) and len(email) <= 320


# --- configuration -------------------------------------------------------------------------


def get_config(session: Store, tenant_id: str) -> CgConfig:
    """The tenant's settings (the defaults when its fixtures have no customergauge section)."""
    return session.get(CgConfig, tenant_id) or CgConfig(tenant_id=tenant_id)


def required_fields(config: CgConfig) -> list[str]:
    return list(json.loads(config.required_fields or "[]"))


def set_paused(session: Store, tenant_id: str, paused: bool) -> CgConfig:
    config = get_config(session, tenant_id)
    config.worker_paused = paused
    session.add(config)
    return config


# --- accepting an upload -------------------------------------------------------------------


def checked_upload(
    session: Store, tenant: Tenant, body: bytes, content_type: str, body_bytes: int | None
) -> tuple[list[dict[str, str]], list[str], int]:
    """(records, log lines, size) of an upload the tenant's limits accept (it reads only)."""
    config = get_config(session, tenant.id)
    enforce = config.limits_mode == LIMITS_ENFORCE
    logs: list[str] = []
    size = len(body) if body_bytes is None else body_bytes
    if size > config.max_bytes:
        if enforce:
            raise CustomerGaugeError(
                413, f"Data larger than {limit_text(config.max_bytes)}", DATA_TOO_LARGE
            )
        logs.append(
            f"Upload of {size:,} bytes is over the {limit_text(config.max_bytes)} limit:"
            " accepted (limits mode accept_and_log)"
        )
    try:
        records = parse_records(
            xml_from_body(body, content_type), config.max_records if enforce else None
        )
    except XmlInputError as exc:
        raise CustomerGaugeError(exc.status, exc.message, exc.code) from None
    if len(records) > config.max_records:
        logs.append(
            f"Upload of {len(records):,} records is over the {config.max_records:,}-record limit:"
            " accepted (limits mode accept_and_log)"
        )
    return records, logs, size


def queue_upload(
    session: Store,
    tenant: Tenant,
    records: list[dict[str, str]],
    logs: list[str],
    size: int,
    now: datetime,
    real_now: datetime,
) -> CgUpload:
    """Queue a checked upload (the caller commits)."""
    upload = CgUpload(
        tenant_id=tenant.id,
        number=next_value(session, tenant.id, UPLOAD_SEQUENCE),
        status=UPLOAD_QUEUED,
        body_bytes=size,
        total_records=len(records),
        records_json=json.dumps(records, ensure_ascii=False, separators=(",", ":")),
        logs_json=json.dumps(logs, ensure_ascii=False),
        next_attempt_at=real_now,
        received_at=now,
    )
    values = upload.model_dump(exclude={"id"})
    session.execute(upload_insert_statement(), [values])
    return upload


@lru_cache(maxsize=1)
def upload_insert_statement() -> Any:
    return CgUpload.__table__.insert()


def limit_text(max_bytes: int) -> str:
    if max_bytes % (1024 * 1024) == 0:
        return f"{max_bytes // (1024 * 1024)}MB"
    return f"{max_bytes:,} bytes"


# --- claiming (atomic across processes) ----------------------------------------------------


def claim_next(
    session: Store,
    worker_id: str,
    real_now: datetime,
    *,
    tenant_id: str | None = None,
    respect_schedule: bool = True,
    exclude: Iterable[int] = (),
) -> int | None:
    """Claim the next upload due, in arrival order per tenant; its row id, or None (the
    caller commits the claim).

    One statement: UPDATE … WHERE id = (the head of a tenant's open uploads, queued and due)
    AND status = 'Queued'. On PostgreSQL the inner SELECT takes `FOR UPDATE SKIP LOCKED`, so
    concurrent workers never claim the same upload; on SQLite the statement is atomic anyway.
    A tenant's later upload waits while an earlier one is queued, processing or retrying.
    """
    excluded = list(exclude)
    dialect = session.get_bind().dialect.name
    statement = claim_statement(dialect, respect_schedule, tenant_id is not None, bool(excluded))
    parameters: dict[str, Any] = {
        "claim_now": real_now,
        "claim_worker": worker_id,
        "claim_lease": real_now + timedelta(seconds=LEASE_MARGIN_SECONDS),
    }
    if tenant_id is not None:
        parameters["claim_tenant"] = tenant_id
    if excluded:
        parameters["claim_excluded"] = excluded
    row = session.execute(statement, parameters).first()
    return None if row is None else row.id


@lru_cache(maxsize=32)
def claim_statement(dialect: str, respect_schedule: bool, by_tenant: bool, excluding: bool) -> Any:
    """The claim statement, built once per variant (building it costs more than running it)."""
    table = CgUpload.__table__
    candidate = table.alias("candidate")
    earlier = table.alias("earlier")
    earlier_open = (
        select(earlier.c.id)
        .where(
            earlier.c.tenant_id == candidate.c.tenant_id,
            earlier.c.status.in_(OPEN_UPLOAD_STATES),
            earlier.c.id < candidate.c.id,
        )
        .exists()
    )
    query = select(candidate.c.id).where(candidate.c.status == UPLOAD_QUEUED, ~earlier_open)
    if respect_schedule:
        paused = select(CgConfig.tenant_id).where(CgConfig.worker_paused.is_(True))
        query = query.where(
            candidate.c.next_attempt_at <= bindparam("claim_now", type_=UTCDateTime()),
            candidate.c.tenant_id.not_in(paused),
        )
    if by_tenant:
        query = query.where(candidate.c.tenant_id == bindparam("claim_tenant"))
    if excluding:
        query = query.where(candidate.c.id.not_in(bindparam("claim_excluded", expanding=True)))
    query = query.order_by(candidate.c.id).limit(1)
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=candidate)
    return (
        update(table)
        .where(table.c.id == query.scalar_subquery(), table.c.status == UPLOAD_QUEUED)
        .values(
            status=UPLOAD_PROCESSING,
            attempts=table.c.attempts + 1,
            claimed_by=bindparam("claim_worker"),
            lease_until=bindparam("claim_lease", type_=UTCDateTime()),
        )
        .returning(table.c.id, table.c.total_records, table.c.tenant_id)
    )


def extend_lease(session: Store, upload_id: int, real_now: datetime, seconds: float) -> None:
    """Keep a claim for an upload whose simulated processing takes `seconds`."""
    session.execute(
        update(CgUpload)
        .where(CgUpload.id == upload_id)
        .values(lease_until=real_now + timedelta(seconds=seconds + LEASE_MARGIN_SECONDS))
    )


def processing_seconds(config: CgConfig, records: int) -> float:
    """The simulated processing time of an upload of `records` records."""
    return (config.processing_ms_per_upload + config.processing_ms_per_record * records) / 1000


def recover_expired_leases(session: Store, real_now: datetime) -> int:
    """Uploads whose worker vanished mid-processing go back to the queue (they are in the DB)."""
    result = session.execute(
        update(CgUpload)
        .where(CgUpload.status == UPLOAD_PROCESSING, CgUpload.lease_until < real_now)
        .values(status=UPLOAD_QUEUED, claimed_by=None, lease_until=None, next_attempt_at=real_now)
    )
    return result.rowcount or 0


def release_claim(session: Store, upload_id: int, real_now: datetime) -> None:
    """Give an interrupted attempt back (server stopping): it does not count as an attempt."""
    session.execute(
        update(CgUpload)
        .where(CgUpload.id == upload_id, CgUpload.status == UPLOAD_PROCESSING)
        .values(
            status=UPLOAD_QUEUED,
            attempts=CgUpload.attempts - 1,
            claimed_by=None,
            lease_until=None,
            next_attempt_at=real_now,
        )
    )


# --- processing ----------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What processing an upload's records gives: mail rows, log lines and counts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    successful: int = 0
    unsuccessful: int = 0


def field_value(record: dict[str, str], name: str) -> str | None:
    """A record's field by name, matching case-insensitively (Email, email, EMAIL)."""
    if name in record:
        return record[name]
    lowered = name.lower()
    for key, value in record.items():
        if key.lower() == lowered:
            return value
    return None


def record_problem(record: dict[str, str], config: CgConfig, required: list[str]) -> str | None:
    """Why a record cannot be queued, in the words of the real upload log; None when valid."""
    email = (field_value(record, "Email") or "").strip()
    if not email:
        return "Email address is required"
    for name in required:
        if name.lower() != "email" and not (field_value(record, name) or "").strip():
            return f"{name} is required but seems to be empty"
    if not is_valid_email(email):
        return f"Email address '{email}' is not valid"
    if config.send_date_field:
        raw = field_value(record, config.send_date_field)
        if raw is not None and raw.strip() and parse_cg_date(raw) is None:
            return (
                f"{config.send_date_field} '{raw.strip()}' is not a valid date"
                " (expected YYYY-mm-dd H:i:s)"
            )
    return None


def send_time(record: dict[str, str], config: CgConfig, now: datetime) -> datetime:
    """The record's date field plus the delay; the processing instant when it has no date."""
    base = now
    if config.send_date_field:
        raw = field_value(record, config.send_date_field)
        parsed = parse_cg_date(raw) if raw else None
        if parsed is not None:
            base = parsed
    return base + timedelta(seconds=config.send_delay_seconds)


def evaluate_records(
    upload: CgUpload,
    records: list[dict[str, str]],
    config: CgConfig,
    now: datetime,
    blocked: dict[str, str],
    first_number: int = 1,
    into: Evaluation | None = None,
) -> Evaluation:
    """Turn records into mail rows: queued, suppressed (on a list) or invalid (with a reason)."""
    evaluation = into or Evaluation()
    required = required_fields(config)
    for offset, record in enumerate(records):
        number = first_number + offset
        email = (field_value(record, "Email") or "").strip()
        key = email_key(email)
        problem = record_problem(record, config, required)
        row: dict[str, Any] = {
            "tenant_id": upload.tenant_id,
            "upload_number": upload.number,
            "record_number": number,
            "email": email[:320],
            "email_key": key[:320],
            "fields_json": json.dumps(record, ensure_ascii=False, separators=(",", ":")),
            "send_at": None,
            "sent_at": None,
            "created_at": now,
        }
        if problem is not None:
            row.update(status=MAIL_INVALID, reason=problem[:500])
            evaluation.logs.append(f"Record {number}: {problem}")
            evaluation.unsuccessful += 1
        else:
            kind = blocked.get(key)
            row["send_at"] = send_time(record, config, now)
            if kind is not None:
                row.update(status=MAIL_SUPPRESSED, reason=LIST_REASONS[kind])
            else:
                row.update(status=MAIL_QUEUED, reason=None)
            evaluation.successful += 1
        evaluation.rows.append(row)
    return evaluation


def blocked_addresses(session: Store, tenant_id: str, keys: set[str]) -> dict[str, str]:
    """Which of these addresses are on the unsubscribe (first) or bounce list."""
    found: dict[str, str] = {}
    ordered = sorted(k for k in keys if k)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        rows = session.execute(blocked_statement(), {"tenant": tenant_id, "keys": chunk})
        for key, kind in rows:
            if found.get(key) != LIST_UNSUBSCRIBE:
                found[key] = kind
    return found


@lru_cache(maxsize=1)
def blocked_statement() -> Any:
    """Built once: building a statement costs more than running it (worker hot path)."""
    return select(CgListEntry.email_key, CgListEntry.kind).where(
        CgListEntry.tenant_id == bindparam("tenant"),
        # Every kind named, so each address is a lookup on the key (tenant_id, kind, email_key)
        # rather than a walk through the tenant's whole list.
        CgListEntry.kind.in_(LIST_KINDS),
        CgListEntry.email_key.in_(bindparam("keys", expanding=True)),
    )


def clear_mails(session: Store, tenant_id: str, upload_number: int) -> None:
    """Drop what an interrupted earlier attempt of this upload may have written."""
    session.execute(
        delete(CgMail).where(CgMail.tenant_id == tenant_id, CgMail.upload_number == upload_number)
    )


def insert_mails(session: Store, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(mail_insert_statement(), rows)


@lru_cache(maxsize=1)
def mail_insert_statement() -> Any:
    return CgMail.__table__.insert()


def complete_upload(
    session: Store, upload: CgUpload, evaluation: Evaluation, now: datetime
) -> None:
    """Mark a processed upload (one UPDATE; a deleted tenant's upload simply matches nothing)."""
    logs = upload_logs(upload) + evaluation.logs
    session.execute(
        complete_statement(),
        {
            "upload_id": upload.id,
            "ok": evaluation.successful,
            "not_ok": evaluation.unsuccessful,
            "logs": json.dumps(logs, ensure_ascii=False),
            "processed_at": now,
        },
    )


@lru_cache(maxsize=1)
def complete_statement() -> Any:
    table = CgUpload.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("upload_id"))
        .values(
            status=UPLOAD_PROCESSED,
            successful_records=bindparam("ok"),
            unsuccessful_records=bindparam("not_ok"),
            logs_json=bindparam("logs"),
            processed_at=bindparam("processed_at", type_=UTCDateTime()),
            lease_until=None,
            claimed_by=None,
            last_error=None,
        )
    )


@lru_cache(maxsize=1)
def load_statement() -> Any:
    return (
        select(CgUpload, Tenant, CgConfig)
        .join(Tenant, Tenant.id == CgUpload.tenant_id)
        .outerjoin(CgConfig, CgConfig.tenant_id == CgUpload.tenant_id)
        .where(CgUpload.id == bindparam("upload_id"))
    )


def load_for_processing(session: Store, upload_id: int) -> tuple[CgUpload, Tenant, CgConfig] | None:
    """The upload, its tenant and the tenant's settings in one query."""
    row = session.execute(load_statement(), {"upload_id": upload_id}).first()
    if row is None:
        return None
    upload, tenant, config = row
    return upload, tenant, config or CgConfig(tenant_id=tenant.id)


def record_failure(
    session: Store, upload_id: int, reason: str, now: datetime, real_now: datetime
) -> str:
    """A failed attempt: back to the queue with exponential back-off, or `Failed` after
    `max_attempts`. Returns the upload's new status."""
    upload = session.get(CgUpload, upload_id)
    if upload is None:
        return UPLOAD_FAILED
    config = get_config(session, upload.tenant_id)
    clear_mails(session, upload.tenant_id, upload.number)
    upload.last_error = reason[:2000]
    upload.lease_until = None
    upload.claimed_by = None
    if upload.attempts >= config.max_attempts:
        logs = json.loads(upload.logs_json or "[]")
        logs.append(f"Processing failed after {upload.attempts} attempts: {reason}")
        upload.logs_json = json.dumps(logs, ensure_ascii=False)
        upload.status = UPLOAD_FAILED
        upload.processed_at = now
    else:
        backoff = config.retry_backoff_seconds * 2 ** max(upload.attempts - 1, 0)
        upload.status = UPLOAD_QUEUED
        upload.next_attempt_at = real_now + timedelta(seconds=backoff)
    session.add(upload)
    return upload.status


# --- sending -------------------------------------------------------------------------------


def deliver_due(session: Store, tenant_id: str, now: datetime) -> dict[str, int]:
    """Queued mails whose send time has passed on the tenant clock: `suppressed` if the address
    joined a list since it was queued, else `sent` (at its send time)."""
    due = and_(CgMail.tenant_id == tenant_id, CgMail.status == MAIL_QUEUED, CgMail.send_at <= now)
    counts = {MAIL_SUPPRESSED: 0, MAIL_SENT: 0}
    for kind in LIST_KINDS:
        listed = select(CgListEntry.email_key).where(
            CgListEntry.tenant_id == tenant_id, CgListEntry.kind == kind
        )
        result = session.execute(
            update(CgMail)
            .where(due, CgMail.email_key.in_(listed))
            .values(status=MAIL_SUPPRESSED, reason=LIST_REASONS[kind])
        )
        counts[MAIL_SUPPRESSED] += result.rowcount or 0
    result = session.execute(
        update(CgMail).where(due).values(status=MAIL_SENT, sent_at=CgMail.send_at)
    )
    counts[MAIL_SENT] = result.rowcount or 0
    return counts


def tenants_with_mail_due(session: Store, now_of: Callable[[Tenant], datetime]) -> list[Tenant]:
    """Tenants whose earliest queued mail is due on their own clock (one grouped query)."""
    earliest = dict(
        session.execute(
            select(CgMail.tenant_id, func.min(CgMail.send_at, type_=UTCDateTime()))
            .where(CgMail.status == MAIL_QUEUED)
            .group_by(CgMail.tenant_id)
        ).all()
    )
    if not earliest:
        return []
    tenants = session.execute(select(Tenant).where(Tenant.id.in_(list(earliest)))).scalars()
    due = []
    for tenant in tenants:
        first = earliest[tenant.id]
        if first is not None and first <= now_of(tenant):
            due.append(tenant)
    return due


# --- read-back -----------------------------------------------------------------------------


def list_uploads(
    session: Store,
    tenant_id: str,
    *,
    number: int | None = None,
    status: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    start: int = 0,
    limit: int = 1000,
) -> list[CgUpload]:
    if number is not None and not fits(CgUpload.number, number):
        return []  # no upload has a number beyond the store's range
    query = select(CgUpload).where(CgUpload.tenant_id == tenant_id)
    if number is not None:
        query = query.where(CgUpload.number == number)
    if status is not None:
        query = query.where(func.lower(CgUpload.status) == status.lower())
    if received_from is not None:
        query = query.where(CgUpload.received_at >= received_from)
    if received_to is not None:
        query = query.where(CgUpload.received_at <= received_to)
    query = query.order_by(CgUpload.number).offset(start).limit(limit)
    return list(session.execute(query).scalars())


class UploadFields(Protocol):
    """What an upload's status view reads: a CgUpload, or a row of `upload_statuses`."""

    number: int
    status: str
    received_at: datetime
    total_records: int
    successful_records: int
    unsuccessful_records: int
    logs_json: str


UPLOADS = CgUpload.__table__
# The columns the file-status endpoint shows (not the records an upload carries, up to 2 MB).
STATUS_COLUMNS = [
    UPLOADS.c[name]
    for name in (
        "number",
        "status",
        "received_at",
        "total_records",
        "successful_records",
        "unsuccessful_records",
        "logs_json",
    )
]


@cache
def upload_status_statement(named: frozenset[str]) -> fastsql.Prepared:
    """A tenant's uploads by number, their status columns only, filtered by what is `named`
    (`number`, `received_from`, `received_to`), a page of them (`start`, `limit`)."""
    statement = select(*STATUS_COLUMNS).where(UPLOADS.c.tenant_id == bindparam("tenant"))
    if "number" in named:
        statement = statement.where(UPLOADS.c.number == bindparam("number"))
    if "received_from" in named:
        statement = statement.where(UPLOADS.c.received_at >= bindparam("received_from"))
    if "received_to" in named:
        statement = statement.where(UPLOADS.c.received_at <= bindparam("received_to"))
    statement = statement.order_by(UPLOADS.c.number)
    return fastsql.prepared(statement.offset(bindparam("start")).limit(bindparam("limit")))


def upload_statuses(
    db: Store | fastsql.Lease,
    tenant_id: str,
    *,
    number: int | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    start: int = 0,
    limit: int = 1000,
) -> list[UploadFields]:
    """The file-status endpoint's uploads (as `list_uploads` finds them, without records)."""
    if number is not None and not fits(CgUpload.number, number):
        return []  # no upload has a number beyond the store's range
    given = {"number": number, "received_from": received_from, "received_to": received_to}
    named = {name: value for name, value in given.items() if value is not None}
    statement = upload_status_statement(frozenset(named))
    parameters = {"tenant": tenant_id, **named, "start": start, "limit": limit}
    return fastsql.execute(db, statement, parameters).all()


def upload_logs(upload: UploadFields) -> list[str]:
    logs = json.loads(upload.logs_json or "[]")
    return logs if isinstance(logs, list) else []


def list_mails(
    session: Store,
    tenant_id: str,
    *,
    status: str | None = None,
    email: str | None = None,
    upload_number: int | None = None,
    start: int = 0,
    limit: int = 1000,
) -> list[CgMail]:
    query = select(CgMail).where(CgMail.tenant_id == tenant_id)
    if status is not None:
        query = query.where(CgMail.status == status)
    if email is not None:
        query = query.where(CgMail.email_key == email_key(email))
    if upload_number is not None:
        query = query.where(CgMail.upload_number == upload_number)
    query = query.order_by(CgMail.upload_number, CgMail.record_number).offset(start).limit(limit)
    return list(session.execute(query).scalars())


# --- unsubscribe and bounce lists ----------------------------------------------------------


def add_to_list(
    session: Store,
    tenant_id: str,
    kind: str,
    email: str,
    now: datetime,
    user: str = "",
    reason: str = "",
) -> CgListEntry:
    """Put an address on a list (already there: unchanged, its first date kept). No commit."""
    key = email_key(email)
    existing = session.execute(
        select(CgListEntry).where(
            CgListEntry.tenant_id == tenant_id,
            CgListEntry.kind == kind,
            CgListEntry.email_key == key,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    entry = CgListEntry(
        tenant_id=tenant_id,
        kind=kind,
        email=email.strip(),
        email_key=key,
        user=user,
        reason=reason,
        created_at=now,
    )
    session.add(entry)
    return entry


class ListEntry(NamedTuple):
    """What a list answer and the fixture export read of an entry."""

    kind: str
    email: str
    user: str
    reason: str
    created_at: datetime


def list_statement(date_from: bool, date_to: bool) -> fastsql.Prepared:
    """A page of a list, with or without each end of a date range (bound: `tenant_id`, `kind`,
    `date_from`, `date_to`, `start`, `limit`)."""
    entries = table_of(CgListEntry)
    query = select(*(entries.c[name] for name in ListEntry._fields)).where(
        entries.c.tenant_id == bindparam("tenant_id"), entries.c.kind == bindparam("kind")
    )
    if date_from:
        query = query.where(entries.c.created_at >= bindparam("date_from", type_=UTCDateTime))
    if date_to:
        query = query.where(entries.c.created_at <= bindparam("date_to", type_=UTCDateTime))
    order = (entries.c.created_at, entries.c.id)
    start, limit = bindparam("start", type_=Integer), bindparam("limit", type_=Integer)
    page = query.order_by(*order).offset(start).limit(limit)
    return fastsql.prepared(page)


# Built once, run on the DBAPI cursor (core/fastsql): through the ORM, building the query and
# loading entries as objects was most of a list request.
LIST_STATEMENTS = {
    (date_from, date_to): list_statement(date_from, date_to)
    for date_from in (False, True)
    for date_to in (False, True)
}


def list_entries(
    session: Store | fastsql.Lease,
    tenant_id: str,
    kind: str,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    start: int = 0,
    limit: int = 100,
) -> list[ListEntry]:
    statement = LIST_STATEMENTS[date_from is not None, date_to is not None]
    parameters: dict[str, Any] = {"tenant_id": tenant_id, "kind": kind}
    if date_from is not None:
        parameters["date_from"] = date_from
    if date_to is not None:
        parameters["date_to"] = date_to
    parameters["start"], parameters["limit"] = start, limit
    return [ListEntry._make(row) for row in fastsql.execute(session, statement, parameters)]


# --- OAuth2 client credentials -------------------------------------------------------------


class OAuthError(Exception):
    """An RFC 6749 token-endpoint error: `{"error": code, "error_description": …}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def client_tenant(session: Store, client_id: str, client_secret: str) -> tuple[str, Tenant]:
    """The OAuth2 client (its id as stored) and its tenant: a client of exactly one tenant
    whose secret matches (OAuthError otherwise)."""
    if not client_id or not client_secret:
        raise OAuthError(400, "invalid_request", "client_id and client_secret are required")
    for name, value in (("client_id", client_id), ("client_secret", client_secret)):
        reason = bad_text(value)
        if reason is not None:
            raise OAuthError(400, "invalid_request", f"{name} holds {reason}")
    clients = session.execute(
        select(CgOAuthClient).where(CgOAuthClient.client_id == client_id)
    ).scalars()
    secret = client_secret.encode()  # compare_digest takes str only when it is ASCII
    matching = [c for c in clients if hmac.compare_digest(c.client_secret.encode(), secret)]
    if len(matching) != 1:
        description = "Client authentication failed"
        if len(matching) > 1:
            description += ": this client is defined in several tenants"
        raise OAuthError(401, "invalid_client", description)
    client = matching[0]
    tenant = session.get(Tenant, client.tenant_id)
    if tenant is None:
        raise OAuthError(401, "invalid_client", "Client authentication failed")
    return client.client_id, tenant


def issue_token(
    session: Store, client_id: str, client_secret: str, now_of: Callable[[Tenant], datetime]
) -> tuple[str, int, Tenant]:
    """A new access token for a client of exactly one tenant; (token, lifetime s, tenant)."""
    client_id, tenant = client_tenant(session, client_id, client_secret)
    ttl = get_config(session, tenant.id).token_ttl_seconds
    now = now_of(tenant)
    session.execute(  # expired tokens are dropped as new ones are issued
        delete(CgAccessToken).where(
            CgAccessToken.tenant_id == tenant.id, CgAccessToken.expires_at <= now
        )
    )
    token = random_secret("cgat-", 24)
    session.add(
        CgAccessToken(
            tenant_id=tenant.id,
            token=token,
            client_id=client_id,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return token, ttl, tenant


# The token and its tenant in one query on the DBAPI cursor: a Bearer request's auth, on the
# request's lease or session alike.
_TOKENS, _TENANTS = table_of(CgAccessToken), table_of(Tenant)
TENANT_OF_TOKEN = fastsql.prepared(
    select(*_TENANTS.c, _TOKENS.c.expires_at.label("token_expires_at"))
    .join(_TOKENS, _TOKENS.c.tenant_id == _TENANTS.c.id)
    .where(_TOKENS.c.token == bindparam("token"))
)


def tenant_for_token(
    session: Store | fastsql.Lease, token: str, now_of: Callable[[Tenant], datetime]
) -> Tenant | None:
    """The tenant of a Bearer token still valid on that tenant's clock."""
    if not token:
        return None
    rows = fastsql.execute(session, TENANT_OF_TOKEN, {"token": token}).all()
    if not rows:
        return None
    if len(rows) > 1:
        raise ValueError("a token of several tenants")
    values = rows[0]._asdict()
    expires_at = values.pop("token_expires_at")
    tenant = Tenant(**values)
    if now_of(tenant) >= expires_at:
        return None
    return tenant
