"""`integrationGetAllCampaigns` (GET /v1/integration/campaigns): the running campaigns of the
application, with their rules' customer-facing details, filtered and paged.

A campaign without `startTime` started before any instant; without `endTime` it ends after any
instant: so `startBefore` and `endAfter` match them, `startAfter` and `endBefore` do not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.core import fastsql
from simulator.core.clock import format_instant, parse_instant
from simulator.core.store import Store
from simulator.talonone.service import campaigns


def instant_of(value: Any) -> datetime | None:
    return parse_instant(value) if isinstance(value, str) else None


def within(campaign: dict[str, Any], bounds: dict[str, datetime | None]) -> bool:
    start, end = instant_of(campaign.get("startTime")), instant_of(campaign.get("endTime"))
    if bounds.get("startAfter") is not None and (start is None or start < bounds["startAfter"]):
        return False
    if (
        bounds.get("startBefore") is not None
        and start is not None
        and start > bounds["startBefore"]
    ):
        return False
    if bounds.get("endAfter") is not None and end is not None and end < bounds["endAfter"]:
        return False
    return not (bounds.get("endBefore") is not None and (end is None or end > bounds["endBefore"]))


def listed_campaign(application_id: int, campaign: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "applicationId": application_id,
        "id": campaign["id"],
        "name": campaign["name"],
        "description": campaign.get("description", ""),
        "attributes": campaign.get("attributes") or {},
        "state": "enabled",
        "tags": campaign.get("tags", []),
        "features": campaign.get("features", []),
        "rules": [{"title": rule["title"]} for rule in campaign.get("rules", [])],
    }
    for key in ("startTime", "endTime"):
        instant = instant_of(campaign.get(key))
        if instant is not None:
            view[key] = format_instant(instant)
    return view


def running_campaigns_page(
    db: Store | fastsql.Lease,
    tenant_id: str,
    now: datetime,
    *,
    campaign_ids: set[int] | None,
    bounds: dict[str, datetime | None],
    skip: int,
    page_size: int,
) -> dict[str, Any]:
    config = campaigns.load_config(db, tenant_id)
    found = [
        campaign
        for campaign in sorted(campaigns.running_campaigns(config, now), key=lambda c: c["id"])
        if (not campaign_ids or campaign["id"] in campaign_ids) and within(campaign, bounds)
    ]
    page = found[skip : skip + page_size]
    return {
        "hasMore": len(found) > skip + page_size,
        "data": [listed_campaign(config.application_id, campaign) for campaign in page],
    }
