"""Campaign configuration of a tenant: the application, attribute definitions and campaigns.

They live on one row (`TalonConfig`) that changes only when fixtures load; each process keeps
it for CONFIG_TTL_SECONDS (and drops it at once when this process loads fixtures), so another
process of a deployment sees a tenant reset within that time. Loyalty programs are kept the
same way. A tenant without a `talonone`
fixture section gets an application with no campaigns and no custom attributes.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from simulator.core import caches, fastsql
from simulator.core.clock import format_instant, parse_instant
from simulator.core.db import new_session
from simulator.core.store import Store
from simulator.talonone.models.core import TalonConfig
from simulator.talonone.models.loyalty import TalonLoyaltyProgram

BUILTIN_ATTRIBUTES: dict[str, dict[str, str]] = {
    "CustomerSession": {},
    "CustomerProfile": {},
    "Event": {},
    "CartItem": {},
}


CONFIG_TTL_SECONDS = 2.0
T = TypeVar("T")

# (id of the engine, tenant id, ...) -> (monotonic time read, the engine, what was read)
_cache: dict[tuple, tuple[float, weakref.ref, TalonConfig]] = {}


def kept(
    store: dict[tuple, tuple[float, weakref.ref, T]], bind: Any, key: tuple, read: Callable[[], T]
) -> T:
    """What `read()` gave for `key` on this store within the last CONFIG_TTL_SECONDS, else
    read now. Keyed by store; the weak reference makes sure a new store that happens to get
    the address of a dropped one never sees its entries."""
    full_key = (id(bind), *key)
    now = time.monotonic()
    hit = store.get(full_key)
    if hit is not None and now - hit[0] < CONFIG_TTL_SECONDS and hit[1]() is bind:
        return hit[2]
    value = read()
    store[full_key] = (now, weakref.ref(bind), value)
    return value


def load_config(db: Store | fastsql.Lease, tenant_id: str) -> TalonConfig:
    """The tenant's configuration (read-only: a detached copy shared by requests).

    A read-only lease (a read path without an ORM Session) reads a missing entry through a
    session of its own; a write lease reads it in its own transaction (another connection
    would make a commit group commit under it: core/groupcommit).
    """
    if isinstance(db, fastsql.Lease) and not isinstance(db, fastsql.WriteLease):

        def read() -> TalonConfig:
            with new_session(db.engine) as session:
                return read_config(session, tenant_id)

        return kept(_cache, db.engine, (tenant_id,), read)
    return kept(_cache, db.get_bind(), (tenant_id,), lambda: read_config(db, tenant_id))


def read_config(db: Store, tenant_id: str) -> TalonConfig:
    config = db.get(TalonConfig, tenant_id)
    if config is None:
        return TalonConfig(tenant_id=tenant_id)
    db.expunge(config)
    return config


def forget_config(tenant_id: str) -> None:
    """Drop the cached configuration and programs of a tenant (its fixtures are being loaded)."""
    for store in (_cache, _programs):
        for key in [k for k in store if k[1] == tenant_id]:
            store.pop(key, None)


# Loyalty programs, like the configuration, change only when fixtures load: kept the same way.
_programs: dict[tuple, tuple[float, weakref.ref, TalonLoyaltyProgram | None]] = {}
caches.register(
    "talonone.config",
    "(store, tenant) -> its Talon.One configuration (campaigns, attributes) and (store, tenant, "
    "program) -> its loyalty programs; read again after CONFIG_TTL_SECONDS, dropped at once "
    "when this process loads the tenant's fixtures",
    clear=lambda: (_cache.clear(), _programs.clear()),
    forget_tenant=forget_config,
)


def loyalty_program(
    db: Store | fastsql.Lease, tenant_id: str, program_id: int
) -> TalonLoyaltyProgram | None:
    """The tenant's program (read-only: a detached copy shared by requests), or None. A
    read-only lease reads a missing entry through a session of its own, as `load_config`."""

    def read_from(session: Store) -> TalonLoyaltyProgram | None:
        program = session.get(TalonLoyaltyProgram, (tenant_id, program_id))
        if program is not None:
            session.expunge(program)
        return program

    def read() -> TalonLoyaltyProgram | None:
        if isinstance(db, fastsql.Lease) and not isinstance(db, fastsql.WriteLease):
            with new_session(db.engine) as session:
                return read_from(session)
        return read_from(db)  # type: ignore[arg-type]

    return kept(_programs, db.get_bind(), (tenant_id, program_id), read)


def attribute_definitions(config: TalonConfig, entity: str) -> dict[str, str]:
    return {**BUILTIN_ATTRIBUTES.get(entity, {}), **(config.attributes or {}).get(entity, {})}


def get_campaign(db: Store, tenant_id: str, campaign_id: int) -> dict[str, Any] | None:
    """The stored campaign document, or None (used by the engagement part to check ids)."""
    for campaign in load_config(db, tenant_id).campaigns or []:
        if campaign["id"] == campaign_id:
            return campaign
    return None


@functools.lru_cache(maxsize=4096)
def _instant(value: str | None) -> datetime | None:
    """A campaign's start or end; the few distinct texts are parsed once (every session update
    asks each campaign whether it is running)."""
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
        if (allowed is None or campaign["id"] in allowed) and is_running(campaign, now)
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
