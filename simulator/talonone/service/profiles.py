"""UpdateCustomerProfileV2 and UpdateCustomerProfilesV2: profiles upserted with their attributes
and audience changes; with runRuleEngine the campaigns run. The rows are `profile_store`'s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from simulator.core.models import Tenant
from simulator.core.store import Store, Transaction
from simulator.talonone import parsing
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonEvent, TalonProfile
from simulator.talonone.service import campaigns, rules
from simulator.talonone.service.audiences import apply_profile_audience_changes
from simulator.talonone.service.event_store import event_view, new_event_id
from simulator.talonone.service.loyalty.balances import profile_loyalty_block
from simulator.talonone.service.loyalty.session_effects import on_session_change
from simulator.talonone.service.loyalty_ledger import lock_ledgers
from simulator.talonone.service.profile_store import (
    conflict,
    ensure_profile,
    get_profile,
    new_profile,
    new_profile_view_only,
)
from simulator.talonone.service.profile_view import profile_view

# --- UpdateCustomerProfileV2 / UpdateCustomerProfilesV2 ---------------------------------------

PROFILE_FIELDS = {"attributes", "evaluableCampaignIds", "audiencesChanges", "responseContent"}
MAX_BULK_PROFILES = 1000


def check_audience_changes(value: Any) -> tuple[list[int], list[int]]:
    changes = parsing.expect_object(value, "/audiencesChanges")
    lists = []
    for key in ("adds", "deletes"):
        if key not in changes:
            raise parsing.invalid(f"/audiencesChanges/{key}", f"{key} is required", "required")
        lists.append(parsing.int_list(changes[key], f"/audiencesChanges/{key}"))
    return lists[0], lists[1]


def update_profile(
    db: Store,
    tenant: Tenant,
    now: datetime,
    integration_id: str,
    body: Any,
    *,
    run_rule_engine: bool,
    dry: bool,
) -> dict[str, Any]:
    """Upsert one profile; with runRuleEngine the campaigns run (event type
    `talon_customer_profile_updated`) and the response carries their effects."""
    if dry and not run_rule_engine:
        raise TalonOneError(
            400,
            "dry can only be used with runRuleEngine=true",
            title="Invalid value",
            parameter="dry",
        )
    if len(integration_id) > 1000:
        raise TalonOneError(
            400, "integrationId must be at most 1000 characters", parameter="integrationId"
        )
    config = campaigns.load_config(db, tenant.id)
    body = parsing.expect_object(body, "")
    parsing.check_keys(body, "", PROFILE_FIELDS)
    wanted = parsing.response_content(body, parsing.PROFILE_RESPONSE_CONTENT)
    attributes = {}
    if body.get("attributes") is not None:
        attributes = parsing.check_attributes(
            body["attributes"],
            "/attributes",
            "CustomerProfile",
            campaigns.attribute_definitions(config, "CustomerProfile"),
        )
    evaluable = None
    if body.get("evaluableCampaignIds") is not None:
        evaluable = parsing.int_list(body["evaluableCampaignIds"], "/evaluableCampaignIds")
    changes = None
    if body.get("audiencesChanges") is not None:
        changes = check_audience_changes(body["audiencesChanges"])
    if dry:
        profile = get_profile(db, tenant.id, integration_id) or new_profile_view_only(
            tenant.id, integration_id, now
        )
        profile = TalonProfile.model_validate(profile.model_dump())
    else:
        profile = ensure_profile(db, tenant.id, integration_id, now)
    profile.attributes = {**(profile.attributes or {}), **attributes}
    if not dry:
        if run_rule_engine:
            profile.last_activity = now
        db.add(profile)
        if changes is not None and (changes[0] or changes[1]):
            apply_profile_audience_changes(
                db, tenant.id, now, integration_id, adds=changes[0], deletes=changes[1]
            )
        db.flush()
    response: dict[str, Any] = {"effects": [], "createdCoupons": [], "createdReferrals": []}
    if not run_rule_engine:
        response["customerProfile"] = profile_view(db, tenant, profile)
        return response
    if not dry:  # before the event's number: the order every ledger writer locks in
        lock_ledgers(db, tenant.id, integration_id, "")
    event_id = 0 if dry else new_event_id(db, tenant.id)
    ctx = rules.Context(
        tenant_id=tenant.id,
        now=now,
        owner=f"event:{event_id}",
        profile_id=integration_id,
        event_type="talon_customer_profile_updated",
        profile_attributes=profile.attributes,
        evaluable_campaign_ids=evaluable,
        dry=dry,
        ledgers_locked=not dry,
    )
    outcome = rules.evaluate(db, config, ctx)
    effects = outcome.effects + on_session_change(
        db,
        tenant.id,
        now,
        session_id=f"event:{event_id}",
        profile_id=integration_id,
        previous_state=None,
        state="closed",
        effects=outcome.effects,
        dry=dry,
    )
    response["effects"] = effects
    event = TalonEvent(
        tenant_id=tenant.id,
        id=event_id,
        type="talon_customer_profile_updated",
        profile_id=integration_id,
        attributes={},
        effects=effects,
        created=now,
    )
    if not dry:
        db.add(event)
        db.flush()
    if "customerProfile" in wanted:
        response["customerProfile"] = profile_view(db, tenant, profile)
    if "event" in wanted:
        response["event"] = event_view(config.application_id, event)
    if "triggeredCampaigns" in wanted:
        response["triggeredCampaigns"] = [
            campaigns.campaign_view(config, c, now) for c in outcome.triggered
        ]
    if "ruleFailureReasons" in wanted:
        response["ruleFailureReasons"] = outcome.failures
    if "loyalty" in wanted:
        response["loyalty"] = profile_loyalty_block(db, tenant.id, now, integration_id)
    if "awardedGiveaways" in wanted:
        response["awardedGiveaways"] = []
    return response


def update_profiles(
    db: Transaction, tenant: Tenant, now: datetime, body: Any
) -> list[dict[str, Any]]:
    """UpdateCustomerProfilesV2: all profiles or none; no rule engine. Their JSON, in order."""
    config = campaigns.load_config(db, tenant.id)
    definitions = campaigns.attribute_definitions(config, "CustomerProfile")
    body = parsing.expect_object(body, "")
    parsing.check_keys(body, "", {"customerProfiles"})
    if "customerProfiles" not in body:
        raise parsing.invalid("/customerProfiles", "customerProfiles is required", "required")
    entries = parsing.expect_list(body["customerProfiles"], "/customerProfiles", MAX_BULK_PROFILES)
    checked = []
    for index, entry in enumerate(entries):
        where = f"/customerProfiles/{index}"
        entry = parsing.expect_object(entry, where)
        parsing.check_keys(entry, where, {"integrationId", "attributes"})
        if "integrationId" not in entry:
            raise parsing.invalid(f"{where}/integrationId", "integrationId is required", "required")
        integration_id = parsing.expect_str(
            entry["integrationId"], f"{where}/integrationId", 1, 1000
        )
        attributes = {}
        if entry.get("attributes") is not None:
            attributes = parsing.check_attributes(
                entry["attributes"], f"{where}/attributes", "CustomerProfile", definitions
            )
        checked.append((integration_id, attributes))
    ids = {integration_id for integration_id, _ in checked}
    statement = select(TalonProfile).where(
        TalonProfile.tenant_id == tenant.id, col(TalonProfile.integration_id).in_(ids)
    )
    known = {p.integration_id: p for p in db.exec(statement).all()} if ids else {}
    results = []
    for integration_id, attributes in checked:
        profile = known.get(integration_id)
        if profile is None:
            profile = new_profile(db, tenant.id, integration_id, now)
            known[integration_id] = profile
        profile.attributes = {**(profile.attributes or {}), **attributes}
        db.add(profile)
        results.append(profile)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise conflict() from None
    return [{"customerProfile": profile_view(db, tenant, p)} for p in results]
