"""CustomerGauge's /metrics gauges: the stream queue (uploads) and the mail queue, by status."""

from __future__ import annotations

from typing import Any

from simulator.core.metrics import GaugeFamily, counts_by_status
from simulator.customergauge.models import (
    MAIL_STATES,
    UPLOAD_FAILED,
    UPLOAD_PROCESSED,
    UPLOAD_PROCESSING,
    UPLOAD_QUEUED,
    CgMail,
    CgUpload,
)

UPLOAD_STATES = (UPLOAD_QUEUED, UPLOAD_PROCESSING, UPLOAD_PROCESSED, UPLOAD_FAILED)


def queue_gauges(session: Any, tenant_ids: list[str] | None) -> list[GaugeFamily]:
    return [
        *counts_by_status(
            session,
            CgUpload,
            UPLOAD_STATES,
            "simulator_customergauge_uploads",
            "Stream uploads (the stream queue)",
            tenant_ids,
        ),
        *counts_by_status(
            session,
            CgMail,
            MAIL_STATES,
            "simulator_customergauge_mail",
            "Mail-queue entries",
            tenant_ids,
        ),
    ]
