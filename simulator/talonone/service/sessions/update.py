"""UpdateCustomerSessionV2: the state machine of the API (docs/behaviour.md, Talon.One), rule
evaluation, what closing and cancelling count and take back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.core import TalonConfig, TalonProfile, TalonSession
from simulator.talonone.parsing import invalid
from simulator.talonone.service import achievements, campaigns, rules
from simulator.talonone.service.coupons import redeem_coupons, release_coupons
from simulator.talonone.service.effects import rollbacks
from simulator.talonone.service.event_store import record_event
from simulator.talonone.service.loyalty.session_effects import on_session_change
from simulator.talonone.service.profile_store import (
    create_profile_state,
    get_profile,
    profile_state,
    save_profile_figures,
    unsaved_profile_state,
)
from simulator.talonone.service.referrals import redeem_referral, release_referral
from simulator.talonone.service.sessions.cart import enrich_cart, rule_items, totals
from simulator.talonone.service.sessions.request import (
    COMPUTED_ITEM_FIELDS,
    CONTENT_KEYS,
    check_session_request,
)
from simulator.talonone.service.sessions.store import (
    SessionState,
    require_session,
    save_session,
    session_and_profile,
    session_row,
)
from simulator.talonone.service.sessions.views import state_response

TRANSITIONS = {
    ("open", "open"),
    ("open", "closed"),
    ("open", "cancelled"),
    ("closed", "cancelled"),
    ("partially_returned", "cancelled"),
}


def check_transition(previous: str | None, state: str) -> None:
    if previous is None:
        if state not in ("open", "closed"):
            raise invalid(
                "/customerSession/state",
                f"A new customer session can only be created open or closed, not {state}",
                "Invalid state transition",
            )
        return
    if (previous, state) in TRANSITIONS or previous == state:
        return
    hint = ""
    if previous == "closed" and state == "open":
        hint = " (use ReopenCustomerSession; note that the SDKs send state open by default)"
    if state == "partially_returned":
        hint = " (use ReturnCartItems)"
    raise invalid(
        "/customerSession/state",
        f"Invalid customer session state transition from {previous} to {state}{hint}",
        "Invalid state transition",
    )


def merge(stored: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """Successive updates build on each other: a sent key replaces, an omitted key stays."""
    merged = {k: v for k, v in stored.items() if k in CONTENT_KEYS}
    for key, value in sent.items():
        if key in CONTENT_KEYS:
            merged[key] = value
    if merged.get("referralCode") == "":
        merged.pop("referralCode")
    return merged


def content_of(data: dict[str, Any]) -> dict[str, Any]:
    """The comparable content (cart items without computed fields)."""
    content = {k: v for k, v in data.items() if k in CONTENT_KEYS and k != "profileId"}
    content["cartItems"] = [
        {k: v for k, v in item.items() if k not in COMPUTED_ITEM_FIELDS}
        for item in data.get("cartItems", [])
    ]
    return content


def evaluate_session(
    db: Store,
    config: TalonConfig,
    tenant_id: str,
    now: datetime,
    session: TalonSession,
    profile: TalonProfile | None,
    catalog: dict | None = None,
    dry: bool = False,
    audience_ids: set[int] | None = None,
) -> rules.Outcome:
    """The session's rules evaluated; `audience_ids`: its profile's audiences when already
    read (else read when a condition asks)."""
    data = session.data
    items = rule_items(data.get("cartItems", []), db, tenant_id, catalog)
    sums = totals(data)
    cards = data.get("loyaltyCards") or []
    ctx = rules.Context(
        tenant_id=tenant_id,
        now=now,
        owner=f"session:{session.integration_id}",
        profile_id=session.profile_id,
        event_type="talon_session_updated",
        cart_items=items,
        cart_total=sums.cart_items,
        session_total=sums.total,
        session_attributes=data.get("attributes") or {},
        profile_attributes=(profile.attributes if profile else {}) or {},
        coupon_codes=data.get("couponCodes") or [],
        referral_code=data.get("referralCode") or "",
        loyalty_card=cards[0] if cards else None,
        first_session=session.first_session,
        evaluable_campaign_ids=data.get("evaluableCampaignIds"),
        dry=dry,
    )
    ctx._audiences = audience_ids
    return rules.evaluate(db, config, ctx)


def update_session(
    db: Store,
    tenant: Tenant,
    now: datetime,
    integration_id: str,
    body: Any,
    *,
    dry: bool,
) -> dict[str, Any]:
    """Create or update a session; the IntegrationStateV2 response dict (the caller commits)."""
    tenant_id = tenant.id  # read once: a Tenant's attributes go through the ORM's descriptors
    config = campaigns.load_config(db, tenant_id)
    sent, wanted = check_session_request(body, config)
    state = sent.get("state", "open")
    named = sent.get("profileId") or ""
    read = None
    if named:  # the usual update: session and profile in one read
        read = session_and_profile(db, tenant_id, integration_id, named)
        stored = read.stored
    else:
        stored = session_row(db, tenant_id, integration_id)
    previous = stored.state if stored is not None else None
    check_transition(previous, state)
    if stored is not None and previous != "open":
        stored = require_session(db, tenant_id, integration_id)
        return update_finished_session(db, tenant, config, now, stored, sent, state, wanted, dry)
    base = {} if (stored is None or dry) else stored.data
    data = merge(base, sent)
    catalog = None
    if "cartItems" in data:
        data["cartItems"], catalog = enrich_cart(db, tenant, data["cartItems"])
    profile_id = data.get("profileId", "") or ""
    session = SessionState(
        tenant_id=tenant_id,
        id=stored.id if stored else 0,
        integration_id=integration_id,
        profile_id=profile_id,
        state=state,
        data=data,
        effects=[],
        first_session=stored.first_session if stored else True,
        update_count=(stored.update_count + 1) if stored else 1,
        counted_sales=0.0,
        created=stored.created if stored else now,
        updated=now,
    )
    audience_ids = None
    if read is not None and profile_id == named:  # read with the session
        profile = read.profile
        audience_ids = read.audience_ids
        if stored is None:
            # A profile created by this very request has had no session before.
            session.first_session = not read.had_session
    else:  # the stored session's own profile (a new session names one, or has none)
        profile = profile_state(db, tenant_id, profile_id) if profile_id else None
    if profile_id and profile is None:
        if dry:
            profile = unsaved_profile_state(tenant_id, profile_id, now)
        else:
            profile = create_profile_state(db, tenant_id, profile_id, now)
    if state == "cancelled":
        outcome = rules.Outcome()
    else:
        outcome = evaluate_session(
            db, config, tenant_id, now, session, profile, catalog, dry, audience_ids
        )
    effects = list(outcome.effects)
    if not dry:
        # The profile's row before its ledgers, as every writer of both takes them (a
        # deduction's check locks the profile first: loyalty_ledger.lock_ledgers).
        closing = state == "closed"
        if closing:
            session.counted_sales = totals(session.data).total
        if profile is not None and profile.id:
            profile.last_activity = now
            save_profile_figures(
                db, profile, int(closing), session.counted_sales if closing else 0.0
            )
    extra = on_session_change(
        db,
        tenant_id,
        now,
        session_id=integration_id,
        profile_id=profile_id or None,
        previous_state=previous,
        state=state,
        effects=effects,
        dry=dry,
    )
    extra += achievements.on_session_change(
        db,
        tenant_id,
        now,
        session_id=integration_id,
        profile_id=profile_id or None,
        previous_state=previous,
        state=state,
        total=session.counted_sales,
        dry=dry,
    )
    session.effects = effects if state != "cancelled" else []
    event = None
    if not dry:
        if state == "closed":
            redeem_codes(db, tenant_id, now, session, outcome)
        save_session(db, session, stored)
        if "event" in wanted:  # no operation reads it otherwise: stored only when asked for
            event = record_event(
                db,
                tenant_id,
                now,
                event_type=session_event_type(previous, state),
                profile_id=profile_id,
                session_id=integration_id,
                store_integration_id=data.get("storeIntegrationId"),
                attributes={},
                effects=effects + extra,
            )
        db.flush()
    return state_response(
        db, tenant, config, now, session, profile, effects + extra, wanted, outcome, event
    )


def session_event_type(previous: str | None, state: str) -> str:
    if previous is None:
        return "talon_session_created" if state == "open" else "talon_session_closed"
    return {
        "open": "talon_session_updated",
        "closed": "talon_session_closed",
        "cancelled": "talon_session_cancelled",
    }.get(state, "talon_session_updated")


def redeem_codes(
    db: Store, tenant_id: str, now: datetime, session: TalonSession, outcome: rules.Outcome
) -> None:
    """Closing redeems the accepted coupon and referral codes."""
    if outcome.accepted_coupons:
        redeem_coupons(
            db,
            tenant_id,
            now,
            session_id=session.integration_id,
            profile_id=session.profile_id or None,
            codes=outcome.accepted_coupons,
        )
    if outcome.accepted_referral:
        redeem_referral(
            db,
            tenant_id,
            now,
            session_id=session.integration_id,
            profile_id=session.profile_id or None,
            code=outcome.accepted_referral,
        )


def uncount_session(
    db: Store, tenant_id: str, session: TalonSession, profile: TalonProfile | None
) -> None:
    """Cancelling or reopening a closed session: codes usable again, figures taken back."""
    release_coupons(db, tenant_id, session_id=session.integration_id)
    release_referral(db, tenant_id, session_id=session.integration_id)
    if profile is not None and profile.id:
        save_profile_figures(db, profile, -1, -session.counted_sales, active=False)
    session.counted_sales = 0.0


def update_finished_session(
    db: Store,
    tenant: Tenant,
    config: TalonConfig,
    now: datetime,
    stored: TalonSession,
    sent: dict[str, Any],
    state: str,
    wanted: set[str],
    dry: bool,
) -> dict[str, Any]:
    """A closed / partially returned / cancelled session: repeat (no-op) or cancel."""
    profile = get_profile(db, tenant.id, stored.profile_id) if stored.profile_id else None
    if state == stored.state:
        changed = content_of(merge(stored.data, sent)) != content_of(stored.data)
        if changed:
            raise invalid(
                "/customerSession",
                f"The customer session is {stored.state} and cannot be modified",
                "Invalid state",
            )
        return state_response(
            db, tenant, config, now, stored, profile, stored.effects, wanted, None, None
        )
    # closed or partially_returned -> cancelled: the payload's other fields are ignored.
    undo = rollbacks(stored.effects or [])
    extra = on_session_change(
        db,
        tenant.id,
        now,
        session_id=stored.integration_id,
        profile_id=stored.profile_id or None,
        previous_state=stored.state,
        state=state,
        effects=stored.effects or [],
        dry=dry,
    )
    extra += achievements.on_session_change(
        db,
        tenant.id,
        now,
        session_id=stored.integration_id,
        profile_id=stored.profile_id or None,
        previous_state=stored.state,
        state=state,
        total=0.0,
        dry=dry,
    )
    effects = undo + extra
    session = TalonSession.model_validate(stored.model_dump())
    session.state = state
    session.effects = []
    session.update_count = stored.update_count + 1
    session.updated = now
    event = None
    if not dry:
        uncount_session(db, tenant.id, session, profile)
        save_session(db, session, stored)
        event = record_event(
            db,
            tenant.id,
            now,
            event_type="talon_session_revoked",
            profile_id=session.profile_id,
            session_id=session.integration_id,
            effects=effects,
        )
        db.flush()
    return state_response(db, tenant, config, now, session, profile, effects, wanted, None, event)
