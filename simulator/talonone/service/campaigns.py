"""Campaign configuration of a tenant: the application, attribute definitions and campaigns.

They live on one row (`TalonConfig`) that changes only when fixtures load; each process keeps
it for CONFIG_TTL_SECONDS (and drops it at once when this process loads fixtures), so another
process of a deployment sees a tenant reset within that time. Loyalty programs are kept the
same way. A tenant without a `talonone`
fixture section gets an application with no campaigns and no custom attributes.
"""

from __future__ import annotations

import time
import weakref
from datetime import datetime
from typing import Any

from sqlmodel import Session

from simulator.core import fastsql
from simulator.core.clock import format_instant, parse_instant
from simulator.core.db import new_session
from simulator.talonone.models.core import TalonConfig
from simulator.talonone.models.loyalty import TalonLoyaltyProgram

BUILTIN_ATTRIBUTES: dict[str, dict[str, str]] = {
    "CustomerSession": {},
    "CustomerProfile": {},
    "Event": {},
    "CartItem": {},
}


CONFIG_TTL_SECONDS = 2.0
_cache: dict[tuple[int, str], tuple[float, weakref.ref, TalonConfig]] = {}


def load_config(db: Session | fastsql.Lease, tenant_id: str) -> TalonConfig:
    """The tenant's configuration (read-only: a detached copy shared by requests).

    Keyed by store and tenant; the weak reference makes sure a new store that happens to get
    the address of a dropped one never sees its entries. A lease (a read path without an ORM
    Session) reads a missing entry through a session of its own.
    """
    bind = db.engine if isinstance(db, fastsql.Lease) else db.get_bind()
    key = (id(bind), tenant_id)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < CONFIG_TTL_SECONDS and hit[1]() is bind:
        return hit[2]
    if isinstance(db, fastsql.Lease):
        with new_session(db.engine) as session:
            config = read_config(session, tenant_id)
    else:
        config = read_config(db, tenant_id)
    _cache[key] = (now, weakref.ref(bind), config)
    return config


def read_config(db: Session, tenant_id: str) -> TalonConfig:
    config = db.get(TalonConfig, tenant_id)
    if config is None:
        return TalonConfig(tenant_id=tenant_id)
    db.expunge(config)
    return config


def forget_config(tenant_id: str) -> None:
    """Drop the cached configuration of a tenant (its fixtures are being loaded)."""
    for key in [k for k in _cache if k[1] == tenant_id]:
        _cache.pop(key, None)
    for key in [k for k in _programs if k[1] == tenant_id]:
        _programs.pop(key, None)


# Loyalty programs, like the configuration, change only when fixtures load: kept the same way.
_programs: dict[tuple[int, str, int], tuple[float, weakref.ref, TalonLoyaltyProgram | None]] = {}


def loyalty_program(db: Session, tenant_id: str, program_id: int) -> TalonLoyaltyProgram | None:
    """The tenant's program (read-only: a detached copy shared by requests), or None."""
    bind = db.get_bind()
    key = (id(bind), tenant_id, program_id)
    now = time.monotonic()
    hit = _programs.get(key)
    if hit is not None and now - hit[0] < CONFIG_TTL_SECONDS and hit[1]() is bind:
        return hit[2]
    program = db.get(TalonLoyaltyProgram, (tenant_id, program_id))
    if program is not None:
        db.expunge(program)
    _programs[key] = (now, weakref.ref(bind), program)
    return program


def attribute_definitions(config: TalonConfig, entity: str) -> dict[str, str]:
    return {**BUILTIN_ATTRIBUTES.get(entity, {}), **(config.attributes or {}).get(entity, {})}


def get_campaign(db: Session, tenant_id: str, campaign_id: int) -> dict[str, Any] | None:
    """The stored campaign document, or None (used by the engagement part to check ids)."""
    for campaign in load_config(db, tenant_id).campaigns or []:
        if campaign["id"] == campaign_id:
            return campaign
    return None


def _instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value else None


def frontend_state(campaign: dict[str, Any], now: datetime) -> str:
    if campaign.get("state") == "archived":
        return "archived"
    if campaign.get("state") == "disabled":
        return "disabled"
    start, end = _instant(campaign.get("startTime")), _instant(campaign.get("endTime"))
    if end is not None and end <= now:
        return "expired"
    if start is not None and start > now:
        return "scheduled"
    return "running"


def is_running(campaign: dict[str, Any], now: datetime) -> bool:
    return frontend_state(campaign, now) == "running"


def running_campaigns(
    config: TalonConfig, now: datetime, evaluable_ids: list[int] | None = None
) -> list[dict[str, Any]]:
    """Running campaigns, restricted to `evaluableCampaignIds` when the request gives them."""
    allowed = set(evaluable_ids) if evaluable_ids else None
    return [
        campaign
        for campaign in config.campaigns or []
        if is_running(campaign, now) and (allowed is None or campaign["id"] in allowed)
    ]


def campaign_view(config: TalonConfig, campaign: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The `Campaign` JSON of the API (triggeredCampaigns)."""
    view: dict[str, Any] = {
        "id": campaign["id"],
        "created": campaign.get("created") or format_instant(now),
        "applicationId": config.application_id,
        "userId": 1,
        "name": campaign["name"],
        "description": campaign.get("description", ""),
        "state": campaign.get("state", "enabled"),
        "tags": campaign.get("tags", []),
        "features": campaign.get("features", []),
        "limits": [],
        "frontendState": frontend_state(campaign, now),
        "storesImported": False,
        "reevaluateOnReturn": False,
        "type": campaign.get("type", "advanced"),
        "activeRulesetId": campaign.get("rulesetId", campaign["id"]),
        "attributes": {},
    }
    for key in ("startTime", "endTime"):
        if campaign.get(key):
            view[key] = format_instant(parse_instant(campaign[key]))
    return view
