"""TrackEventV2: custom events through the rule engine. The stored events, the built-in ones
that session updates and returns record included, are `event_store`'s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.core import TalonEvent
from simulator.talonone.parsing import (
    EVENT_RESPONSE_CONTENT,
    check_attributes,
    check_keys,
    expect_list,
    expect_object,
    expect_str,
    int_list,
    invalid,
    response_content,
)
from simulator.talonone.service import achievements, campaigns, rules
from simulator.talonone.service.campaigns import campaign_view
from simulator.talonone.service.event_store import event_view, new_event_id, store_event
from simulator.talonone.service.loyalty.balances import profile_loyalty_block
from simulator.talonone.service.loyalty.session_effects import on_session_change
from simulator.talonone.service.loyalty_ledger import lock_ledgers
from simulator.talonone.service.profile_store import (
    create_profile_state,
    profile_state,
    save_profile_figures,
    unsaved_profile_state,
)
from simulator.talonone.service.profile_view import profile_view

EVENT_FIELDS = {
    "type",
    "profileId",
    "storeIntegrationId",
    "evaluableCampaignIds",
    "attributes",
    "loyaltyCards",
    "responseContent",
}


def check_event_request(body: Any, definitions: dict[str, str]) -> dict[str, Any]:
    body = expect_object(body, "")
    check_keys(body, "", EVENT_FIELDS)
    if "type" not in body:
        raise invalid("/type", "type is required", "required")
    event_type = expect_str(body["type"], "/type", min_length=1, max_length=1000)
    if event_type.startswith("talon_"):
        raise invalid("/type", f"{event_type} is a built-in event and cannot be tracked")
    if not body.get("profileId"):
        raise invalid("/profileId", "profileId is required", "required")
    request = {
        "type": event_type,
        "profileId": expect_str(body["profileId"], "/profileId", max_length=1000),
        "attributes": {},
        "responseContent": response_content(body, EVENT_RESPONSE_CONTENT),
    }
    if body.get("storeIntegrationId") is not None:
        request["storeIntegrationId"] = expect_str(
            body["storeIntegrationId"], "/storeIntegrationId", 1, 1000
        )
    if body.get("evaluableCampaignIds") is not None:
        request["evaluableCampaignIds"] = int_list(
            body["evaluableCampaignIds"], "/evaluableCampaignIds"
        )
    if body.get("attributes") is not None:
        request["attributes"] = check_attributes(
            body["attributes"], "/attributes", "Event", definitions
        )
    if body.get("loyaltyCards") is not None:
        cards = expect_list(body["loyaltyCards"], "/loyaltyCards", 1)
        request["loyaltyCards"] = [
            expect_str(c, f"/loyaltyCards/{i}", 4, 108) for i, c in enumerate(cards)
        ]
    return request


def track_event(
    db: Store, tenant: Tenant, now: datetime, body: Any, *, dry: bool
) -> dict[str, Any]:
    """Store the event (unless dry), run the rules, post loyalty effects; the response dict."""
    config = campaigns.load_config(db, tenant.id)
    request = check_event_request(body, campaigns.attribute_definitions(config, "Event"))
    profile_id = request["profileId"]
    if dry:
        profile = profile_state(db, tenant.id, profile_id) or unsaved_profile_state(
            tenant.id, profile_id, now
        )
    else:
        # The profile's row first (created, or its activity written), then its ledgers: the
        # order every writer of both takes them in (loyalty_ledger.lock_ledgers).
        profile = profile_state(db, tenant.id, profile_id) or create_profile_state(
            db, tenant.id, profile_id, now
        )
        profile.last_activity = now
        save_profile_figures(db, profile)
    cards = request.get("loyaltyCards") or []
    if not dry:  # before the event's number: the order every ledger writer locks in
        lock_ledgers(db, tenant.id, profile_id, cards[0] if cards else "")
    event_id = new_event_id(db, tenant.id) if not dry else 0
    ctx = rules.Context(
        tenant_id=tenant.id,
        now=now,
        owner=f"event:{event_id}",
        profile_id=profile_id,
        event_type=request["type"],
        event_attributes=request["attributes"],
        profile_attributes=profile.attributes or {},
        loyalty_card=cards[0] if cards else None,
        evaluable_campaign_ids=request.get("evaluableCampaignIds"),
        dry=dry,
        ledgers_locked=not dry,
    )
    outcome = rules.evaluate(db, config, ctx)
    effects = outcome.effects
    effects = effects + on_session_change(
        db,
        tenant.id,
        now,
        session_id=f"event:{event_id}",
        profile_id=profile_id,
        previous_state=None,
        state="closed",
        effects=effects,
        dry=dry,
    )
    if not dry:
        effects = effects + achievements.record_activity(
            db,
            tenant.id,
            now,
            profile_id=profile_id,
            session_id=f"event:{event_id}",
            event_type=request["type"],
        )
    event_values: dict[str, Any] = {
        "tenant_id": tenant.id,
        "id": event_id,
        "type": request["type"],
        "profile_id": profile_id,
        "session_id": None,
        "store_integration_id": request.get("storeIntegrationId"),
        "attributes": request["attributes"],
        "effects": effects,
        "created": now,
    }
    if not dry:
        store_event(db, event_values)
    wanted = request["responseContent"]
    response: dict[str, Any] = {"effects": effects, "createdCoupons": [], "createdReferrals": []}
    if "customerProfile" in wanted:
        response["customerProfile"] = profile_view(db, tenant, profile)
    if "event" in wanted:
        response["event"] = event_view(config.application_id, TalonEvent(**event_values))
    if "triggeredCampaigns" in wanted:
        response["triggeredCampaigns"] = [campaign_view(config, c, now) for c in outcome.triggered]
    if "ruleFailureReasons" in wanted:
        response["ruleFailureReasons"] = outcome.failures
    if "loyalty" in wanted:
        response["loyalty"] = profile_loyalty_block(db, tenant.id, now, profile_id)
    if "awardedGiveaways" in wanted:
        response["awardedGiveaways"] = []
    return response
