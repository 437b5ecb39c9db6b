"""Admin inspection and control of the stream queue, under /__admin/tenants/{id}/customergauge."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.admindeps import path_tenant
from simulator.core.clock import format_instant, tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import ROW_COUNT, StoredText, within
from simulator.core.store import unit_of_work
from simulator.customergauge import service, worker
from simulator.customergauge.metrics import UPLOAD_STATES
from simulator.customergauge.models import (
    LIST_BOUNCE,
    LIST_UNSUBSCRIBE,
    MAIL_STATES,
    CgMail,
    CgUpload,
)

router = APIRouter(
    prefix="/__admin/tenants/{tenant_id}/customergauge",
    tags=["admin: customergauge"],
)

UploadStatus = Literal["Queued", "Processing", "Processed", "Failed"]
MailStatus = Literal["queued", "sent", "suppressed", "invalid"]


def _instant(value: Any) -> str | None:
    return format_instant(value) if value is not None else None


def upload_admin_view(upload: CgUpload) -> dict[str, Any]:
    return {
        "id": upload.number,
        "status": upload.status,
        "attempts": upload.attempts,
        "bytes": upload.body_bytes,
        "totalRecords": upload.total_records,
        "successfulRecords": upload.successful_records,
        "unsuccessfulRecords": upload.unsuccessful_records,
        "logs": service.upload_logs(upload),
        "lastError": upload.last_error,
        "received": _instant(upload.received_at),
        "processed": _instant(upload.processed_at),
        "nextAttempt": _instant(upload.next_attempt_at) if upload.status == "Queued" else None,
    }


def mail_view(mail: CgMail) -> dict[str, Any]:
    return {
        "id": mail.id,
        "upload": mail.upload_number,
        "record": mail.record_number,
        "email": mail.email,
        "status": mail.status,
        "reason": mail.reason,
        "sendAt": _instant(mail.send_at),
        "sentAt": _instant(mail.sent_at),
        "fields": json.loads(mail.fields_json or "{}"),
    }


@router.get("/uploads")
async def list_uploads(
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    status: UploadStatus | None = None,
    start: Annotated[int, Query(ge=0), within(ROW_COUNT)] = 0,
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> Response:
    uploads = service.list_uploads(session, tenant.id, status=status, start=start, limit=limit)
    return json_response(
        {"uploads": [upload_admin_view(u) for u in uploads], "count": len(uploads)}
    )


@router.get("/uploads/{number}")
async def get_upload(
    number: Annotated[int, within(CgUpload.number)],
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    uploads = service.list_uploads(session, tenant.id, number=number)
    if not uploads:
        raise HTTPException(404, f"no upload {number} in tenant {tenant.id!r}")
    view = upload_admin_view(uploads[0])
    view["records"] = json.loads(uploads[0].records_json or "[]")
    return json_response(view)


@router.get("/mail-queue")
async def mail_queue(
    request: Request,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    status: MailStatus | None = None,
    email: str | None = None,
    upload: Annotated[int | None, Query(ge=1), within(CgUpload.number)] = None,
    start: Annotated[int, Query(ge=0), within(ROW_COUNT)] = 0,
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> Response:
    """The tenant's mail queue; mails due on its clock are sent first, so a read is current."""
    with unit_of_work(session):
        service.deliver_due(session, tenant.id, tenant_now(tenant))
    mails = service.list_mails(
        session,
        tenant.id,
        status=status,
        email=email,
        upload_number=upload,
        start=start,
        limit=limit,
    )
    return json_response({"mails": [mail_view(m) for m in mails], "count": len(mails)})


@router.post("/process")
async def process_now(request: Request, tenant: Tenant = Depends(path_tenant)) -> Response:
    """Process every queued upload of the tenant now (one attempt each), then send what is due."""
    summary = await worker.process_tenant_now(request.app.state.engine, tenant.id)
    return json_response(summary.as_dict())


def worker_view(request: Request, tenant_id: str, paused: bool) -> dict[str, Any]:
    running = getattr(request.app.state, "customergauge_worker", None) is not None
    return {"tenant": tenant_id, "paused": paused, "workerInThisProcess": running}


@router.get("/worker")
async def worker_state(
    request: Request, tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    paused = service.get_config(session, tenant.id).worker_paused
    return json_response(worker_view(request, tenant.id, paused))


@router.post("/worker/pause")
async def pause(
    request: Request, tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    """The background worker leaves this tenant's uploads queued (admin `process` still runs)."""
    with unit_of_work(session):
        service.set_paused(session, tenant.id, True)
    return json_response(worker_view(request, tenant.id, True))


@router.post("/worker/resume")
async def resume(
    request: Request, tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    with unit_of_work(session):
        service.set_paused(session, tenant.id, False)
    worker.wake(request.app)
    return json_response(worker_view(request, tenant.id, False))


class BounceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StoredText = Field(min_length=3, max_length=320)
    reason: StoredText = Field(default="", max_length=500)


@router.post("/bounces", status_code=201)
async def add_bounce(
    body: BounceBody, tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    """Simulate a bounce: the address joins the bounce list (the real API has no POST for it)."""
    if not service.is_valid_email(body.email):
        raise HTTPException(400, f"not an email address: {body.email!r}")
    with unit_of_work(session):
        entry = service.add_to_list(
            session, tenant.id, LIST_BOUNCE, body.email, tenant_now(tenant), reason=body.reason
        )
    return json_response(
        {"email": entry.email, "reason": entry.reason, "date": _instant(entry.created_at)},
        status=201,
    )


@router.post("/unsubscribes", status_code=201)
async def add_unsubscribe(
    body: BounceBody, tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    """Put an address on the unsubscribe list, as the customer's click would (the real API's
    `POST lists/unsubscribe` does the same for an integrator; this is the operator's)."""
    if not service.is_valid_email(body.email):
        raise HTTPException(400, f"not an email address: {body.email!r}")
    with unit_of_work(session):
        entry = service.add_to_list(
            session, tenant.id, LIST_UNSUBSCRIBE, body.email, tenant_now(tenant), reason=body.reason
        )
    return json_response(
        {"email": entry.email, "reason": entry.reason, "date": _instant(entry.created_at)},
        status=201,
    )


@router.get("/counts")
async def queue_counts(
    tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    """The tenant's uploads and mails by status (every status, 0 where none): the queues at a
    glance. Mails due on the tenant's clock are sent first, as the mail queue's read does."""
    service.deliver_due(session, tenant.id, tenant_now(tenant))

    def by_status(table: Any, states: tuple[str, ...]) -> dict[str, int]:
        rows = session.execute(
            select(table.status, func.count())
            .where(table.tenant_id == tenant.id)
            .group_by(table.status)
        ).all()
        found = dict(rows)
        return {state: int(found.get(state, 0)) for state in states}

    return json_response(
        {
            "uploads": by_status(CgUpload, UPLOAD_STATES),
            "mails": by_status(CgMail, MAIL_STATES),
        }
    )
