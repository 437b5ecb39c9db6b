"""What a session answer shows: CustomerSessionV2, IntegrationStateV2, the returns of a session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from simulator.core.clock import format_instant
from simulator.core.formats import number
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.core import TalonConfig, TalonProfile, TalonReturn, TalonSession
from simulator.talonone.service import campaigns, rules
from simulator.talonone.service.coupons import session_coupons
from simulator.talonone.service.event_store import event_view
from simulator.talonone.service.loyalty.balances import profile_loyalty_block
from simulator.talonone.service.profile_view import profile_view
from simulator.talonone.service.referrals import session_referral
from simulator.talonone.service.sessions.cart import totals


def session_view(config: TalonConfig, session: Any) -> dict[str, Any]:
    """The CustomerSessionV2 JSON of the API."""
    data = session.data or {}
    sums = totals(data)
    view: dict[str, Any] = {
        "id": session.id,
        "created": format_instant(session.created),
        "integrationId": session.integration_id,
        "applicationId": config.application_id,
        "profileId": session.profile_id,
        "couponCodes": data.get("couponCodes", []),
        "loyaltyCards": data.get("loyaltyCards", []),
        "state": session.state,
        "cartItems": data.get("cartItems", []),
        "additionalCosts": data.get("additionalCosts", {}),
        "identifiers": data.get("identifiers", []),
        "attributes": data.get("attributes", {}),
        "firstSession": session.first_session,
        "total": number(sums.total),
        "cartItemTotal": number(sums.cart_items),
        "additionalCostTotal": number(sums.additional_costs),
        "cartItemAdditionalCostTotal": number(sums.item_costs),
        "updated": format_instant(session.updated),
        "updateCount": session.update_count,
    }
    for key in ("storeIntegrationId", "evaluableCampaignIds"):
        if key in data:
            view[key] = data[key]
    if data.get("referralCode"):
        view["referralCode"] = data["referralCode"]
    return view


def state_response(
    db: Store,
    tenant: Tenant,
    config: TalonConfig,
    now: datetime,
    session: TalonSession,
    profile: TalonProfile | None,
    effects: list[dict[str, Any]],
    wanted: set[str],
    outcome: rules.Outcome | None,
    event: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """IntegrationStateV2: the three lists always, the rest as `responseContent` asks."""
    response: dict[str, Any] = {"effects": effects, "createdCoupons": [], "createdReferrals": []}
    if "customerSession" in wanted:
        response["customerSession"] = session_view(config, session)
    if "customerProfile" in wanted and profile is not None:
        response["customerProfile"] = profile_view(db, tenant, profile)
    if "triggeredCampaigns" in wanted:
        triggered = outcome.triggered if outcome else []
        response["triggeredCampaigns"] = [
            campaigns.campaign_view(config, c, now) for c in triggered
        ]
    if "ruleFailureReasons" in wanted:
        response["ruleFailureReasons"] = outcome.failures if outcome else []
    if "loyalty" in wanted and session.profile_id:
        response["loyalty"] = profile_loyalty_block(db, tenant.id, now, session.profile_id)
    if "event" in wanted and event is not None:
        response["event"] = event_view(config.application_id, event)
    if "awardedGiveaways" in wanted:
        response["awardedGiveaways"] = []
    data = session.data or {}
    if "coupons" in wanted:
        response["coupons"] = session_coupons(
            db, tenant.id, data.get("couponCodes") or [], session.profile_id
        )
    if "referral" in wanted and data.get("referralCode"):
        referral = session_referral(db, tenant.id, data["referralCode"])
        if referral is not None:
            response["referral"] = referral
    if "previousReturns" in wanted:
        response["previousReturns"] = [
            return_view(config, r) for r in previous_returns(db, tenant.id, session)
        ]
    if extra:
        response.update(extra)
    return response


def return_view(config: TalonConfig, item: TalonReturn) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": item.id,
        "created": format_instant(item.created),
        "applicationId": config.application_id,
        "accountId": config.account_id,
        "returnedCartItems": item.items,
        "eventId": item.event_id,
        "sessionId": item.session_id,
        "sessionIntegrationId": item.session_integration_id,
    }
    if item.profile_id:
        view["profileIntegrationId"] = item.profile_id
    return view


def previous_returns(db: Store, tenant_id: str, session: TalonSession) -> list[TalonReturn]:
    statement = (
        select(TalonReturn)
        .where(
            TalonReturn.tenant_id == tenant_id,
            TalonReturn.session_integration_id == session.integration_id,
        )
        .order_by(col(TalonReturn.id))
    )
    return list(db.exec(statement).all())
