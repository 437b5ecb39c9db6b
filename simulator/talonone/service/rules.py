"""The rule engine: the tenant's campaigns (docs/campaigns.md) evaluated against a session,
a profile update or an event, producing the effects of the API.

A rule fires when all its conditions hold; every running campaign's rules are evaluated in
order. Coupon and referral codes are validated through the engagement part; a valid code makes
the `coupon` / `referral` condition of its campaign true, and a rule that fires with it
accepts the code; a code that no rule accepted is rejected with the documented reason.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.core.clock import format_instant, parse_instant
from simulator.core.formats import number
from simulator.core.storable import MAX_AMOUNT, amount_ok
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonConfig
from simulator.talonone.service import campaigns as campaign_config
from simulator.talonone.service.audiences import profile_audience_ids
from simulator.talonone.service.coupons import coupon_campaign_id, validate_coupon
from simulator.talonone.service.effects import effect, transaction_uuid
from simulator.talonone.service.loyalty.balances import available_points
from simulator.talonone.service.referrals import referral_campaign_id, validate_referral


@dataclass
class Context:
    """What conditions can look at. `owner` names the session or event (transaction ids)."""

    tenant_id: str
    now: datetime
    owner: str
    profile_id: str = ""
    event_type: str = ""
    cart_items: list[dict[str, Any]] = field(default_factory=list)
    cart_total: float = 0.0
    session_total: float = 0.0
    session_attributes: dict[str, Any] = field(default_factory=dict)
    profile_attributes: dict[str, Any] = field(default_factory=dict)
    event_attributes: dict[str, Any] = field(default_factory=dict)
    coupon_codes: list[str] = field(default_factory=list)
    referral_code: str = ""
    loyalty_card: str | None = None
    first_session: bool = False
    evaluable_campaign_ids: list[int] | None = None
    dry: bool = False  # nothing will be written: no ledger is locked for a deduction
    _audiences: set[int] | None = None
    # Deductions: the ledgers are locked once per evaluation, before the first balance is read
    # (or by the caller, before anything else: `ledgers_locked`); the points earlier effects
    # of this evaluation already deduct, per (programId, subLedgerId), are not available to
    # the next one.
    ledgers_locked: bool = False
    _deducting: dict[tuple[int, str], float] = field(default_factory=dict)


@dataclass
class Outcome:
    effects: list[dict[str, Any]] = field(default_factory=list)
    triggered: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    accepted_coupons: list[str] = field(default_factory=list)
    accepted_referral: str | None = None


# --- conditions -------------------------------------------------------------------------------


BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def compare(actual: Any, test: dict[str, Any]) -> bool:
    """`test` holds eq / ne / gt / gte / lt / lte / in / exists (all given must hold); other
    keys (an attribute's `name`, a quantity's `sku`) are not tests.

    One pass over the keys the test has (every condition of every campaign runs this on each
    session update); the fixtures schema makes bounds numbers, so the order cannot matter."""
    for op, expected in test.items():
        if op == "eq":
            if actual != expected:
                return False
        elif op in BOUNDS:
            if isinstance(actual, bool) or not isinstance(actual, (int, float)):
                return False
            if not BOUNDS[op](actual, expected):
                return False
        elif op == "exists":
            if (actual is not None) != expected:
                return False
        elif op == "ne":
            if actual == expected:
                return False
        elif op == "in":
            values = actual if isinstance(actual, list) else [actual]
            if not any(v in expected for v in values):
                return False
    return True


def item_matches_sku(item: dict[str, Any], skus: str | list[str]) -> bool:
    return item["sku"] in ([skus] if isinstance(skus, str) else skus)


def item_matches_attribute(item: dict[str, Any], test: dict[str, Any]) -> bool:
    return compare(item["ruleAttributes"].get(test["name"]), test)


def audiences(db: Store, ctx: Context) -> set[int]:
    if ctx._audiences is None:
        ctx._audiences = (
            profile_audience_ids(db, ctx.tenant_id, ctx.profile_id) if ctx.profile_id else set()
        )
    return ctx._audiences


def condition_holds(
    db: Store, ctx: Context, condition: dict[str, Any], codes: dict[str, str | None]
) -> bool:
    ((kind, test),) = condition.items()
    if kind == "cartTotal":
        return compare(ctx.cart_total, test)
    if kind == "sessionTotal":
        return compare(ctx.session_total, test)
    if kind == "itemSku":
        return any(item_matches_sku(item, test) for item in ctx.cart_items)
    if kind == "itemQuantity":
        sku = test.get("sku")
        quantity = sum(i["quantity"] for i in ctx.cart_items if sku is None or i["sku"] == sku)
        return compare(quantity, test)
    if kind == "itemAttribute":
        return any(item_matches_attribute(item, test) for item in ctx.cart_items)
    if kind == "sessionAttribute":
        return compare(ctx.session_attributes.get(test["name"]), test)
    if kind == "profileAttribute":
        return compare(ctx.profile_attributes.get(test["name"]), test)
    if kind == "eventAttribute":
        return compare(ctx.event_attributes.get(test["name"]), test)
    if kind == "audience":
        return bool(ctx.profile_id) and test in audiences(db, ctx)
    if kind == "coupon":
        return (codes.get("coupon") is not None) == test
    if kind == "referral":
        return (codes.get("referral") is not None) == test
    if kind == "event":
        return ctx.event_type == test
    if kind == "firstSession":
        return ctx.first_session == test
    return False


# --- effects ----------------------------------------------------------------------------------

POINTS_EPSILON = 1e-9  # as the ledger's: a shortfall below it is none


def discount_value(spec: dict[str, Any], base: float, quantity: int = 1) -> float:
    if "percent" in spec:
        return base * spec["percent"] / 100
    return min(spec["value"] * quantity, base)


def timestamp_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return format_instant(parse_instant(value))
    except ValueError:
        return None


def build_effects(
    db: Store,
    ctx: Context,
    campaign: dict[str, Any],
    rule_index: int,
    rule: dict[str, Any],
    remaining: list[float],
) -> list[dict[str, Any]] | None:
    """The effects of one firing rule; None when an effect cannot apply (the rule fails)."""
    title = rule["title"]
    built: list[dict[str, Any]] = []
    deducting = ctx._deducting  # what this rule's deductions hold back, if the rule fails
    for effect_index, spec in enumerate(rule.get("effects", [])):
        ((kind, props),) = spec.items()
        if kind == "setDiscount":
            value = min(discount_value(props, ctx.cart_total), remaining[0])
            remaining[0] -= value
            built.append(
                effect(
                    campaign,
                    rule_index,
                    title,
                    kind,
                    {"name": props["name"], "value": number(value)},
                )
            )
        elif kind == "setDiscountPerItem":
            for item in ctx.cart_items:
                if "sku" in props and not item_matches_sku(item, props["sku"]):
                    continue
                if "itemAttribute" in props and not item_matches_attribute(
                    item, props["itemAttribute"]
                ):
                    continue
                line = item["price"] * item["quantity"]
                value = min(discount_value(props, line, item["quantity"]), remaining[0])
                remaining[0] -= value
                amount = number(value)
                built.append(
                    effect(
                        campaign,
                        rule_index,
                        title,
                        kind,
                        {
                            "name": f"{props['name']}#{item['position']}",
                            "value": amount,
                            "position": item["position"],
                            "totalDiscount": amount,
                        },
                    )
                )
        elif kind in ("addLoyaltyPoints", "deductLoyaltyPoints"):
            loyalty = loyalty_effect(
                db, ctx, campaign, rule_index, title, effect_index, kind, props
            )
            if loyalty is None:
                ctx._deducting = deducting
                return None
            built.append(loyalty)
        elif kind == "showNotification" or kind == "customEffect":
            built.append(effect(campaign, rule_index, title, kind, dict(props)))
    return built


def points_per_currency(cart_total: float, per_currency: float) -> float:
    """Points for the cart, down to the cent; more than MAX_AMOUNT is refused (400), never
    posted (the cart's figures are each bounded, their product with a campaign's rate is not)."""
    cents = cart_total * per_currency * 100
    if not amount_ok(cents / 100):
        raise TalonOneError(
            400,
            f"The loyalty points this cart earns are beyond {MAX_AMOUNT:g}",
            title="Invalid value",
            pointer="/customerSession/cartItems",
        )
    return math.floor(cents) / 100


def loyalty_effect(
    db: Store,
    ctx: Context,
    campaign: dict[str, Any],
    rule_index: int,
    title: str,
    effect_index: int,
    kind: str,
    spec: dict[str, Any],
) -> dict[str, Any] | None:
    """addLoyaltyPoints / deductLoyaltyPoints; needs a profile or a loyalty card."""
    if not ctx.profile_id and not ctx.loyalty_card:
        return None
    uuid = transaction_uuid(ctx.tenant_id, ctx.owner, campaign["id"], rule_index, effect_index)
    subledger = spec.get("subLedgerId", "")
    name = spec.get("name") or title
    if kind == "addLoyaltyPoints":
        if "value" in spec:
            points = spec["value"]
        else:
            points = points_per_currency(ctx.cart_total, spec["perCurrency"])
        if points <= 0:
            return None
        props: dict[str, Any] = {
            "name": name,
            "programId": spec["programId"],
            "subLedgerId": subledger,
            "value": number(points),
            "recipientIntegrationId": ctx.profile_id,
            "transactionUUID": uuid,
        }
        for key in ("startDate", "expiryDate"):
            stamp = timestamp_or_none(spec.get(key))
            if stamp is not None:
                props[key] = stamp
        if spec.get("startDate") == "on_action":  # pending until activate_points
            props["awaitsActivation"] = True
            if spec.get("validityDuration") and "expiryDate" not in props:
                props["validityDuration"] = spec["validityDuration"]
    else:
        points = spec["value"]
        lock = not ctx.dry and not ctx.ledgers_locked
        available = available_points(
            db,
            ctx.tenant_id,
            ctx.now,
            program_id=spec["programId"],
            profile_id=ctx.profile_id or None,
            card_identifier=ctx.loyalty_card,
            subledger=subledger,
            lock=lock,
        )
        ctx.ledgers_locked = ctx.ledgers_locked or lock
        key = (spec["programId"], subledger)
        held = ctx._deducting.get(key, 0.0)
        if available - held < points - POINTS_EPSILON:
            return None
        ctx._deducting = {**ctx._deducting, key: held + points}
        props = {
            "ruleTitle": title,
            "programId": spec["programId"],
            "subLedgerId": subledger,
            "value": number(points),
            "transactionUUID": uuid,
            "name": name,
        }
    if ctx.loyalty_card:
        props["cardIdentifier"] = ctx.loyalty_card
    return effect(campaign, rule_index, title, kind, props)


# --- codes ------------------------------------------------------------------------------------


def code_rejection(kind: str, value: str, reason: str, campaign: dict | None) -> dict[str, Any]:
    effect_type = "rejectCoupon" if kind == "coupon" else "rejectReferral"
    return effect(campaign, 0, "", effect_type, {"value": value, "rejectionReason": reason})


def codes_by_campaign(
    db: Store, ctx: Context, running: dict[int, dict], config: TalonConfig, outcome: Outcome
) -> dict[int, dict[str, str | None]]:
    """Validate each code once: valid ones are offered to their campaign, others rejected."""
    offered: dict[int, dict[str, str | None]] = {}
    entries = [("coupon", code) for code in ctx.coupon_codes]
    if ctx.referral_code:
        entries.append(("referral", ctx.referral_code))
    for kind, code in entries:
        find = coupon_campaign_id if kind == "coupon" else referral_campaign_id
        campaign_id = find(db, ctx.tenant_id, code)
        prefix = "Coupon" if kind == "coupon" else "Referral"
        if campaign_id is None:
            outcome.effects.append(code_rejection(kind, code, f"{prefix}NotFound", None))
            continue
        campaign = running.get(campaign_id)
        if campaign is None:
            known = campaign_config.get_campaign(db, ctx.tenant_id, campaign_id)
            outcome.effects.append(
                code_rejection(kind, code, f"{prefix}PartOfNotRunningCampaign", known)
            )
            continue
        validate = validate_coupon if kind == "coupon" else validate_referral
        reason = validate(
            db,
            ctx.tenant_id,
            ctx.now,
            code=code,
            campaign_id=campaign_id,
            profile_id=ctx.profile_id or None,
        )
        if reason is not None:
            outcome.effects.append(code_rejection(kind, code, reason, campaign))
            continue
        slot = offered.setdefault(campaign_id, {"coupon": None, "referral": None})
        if slot[kind] is None:
            slot[kind] = code
        else:
            outcome.effects.append(
                code_rejection(kind, code, f"{prefix}RejectedByCondition", campaign)
            )
    return offered


def evaluate(db: Store, config: TalonConfig, ctx: Context) -> Outcome:
    outcome = Outcome()
    running_list = campaign_config.running_campaigns(config, ctx.now, ctx.evaluable_campaign_ids)
    running = {c["id"]: c for c in running_list}
    offered = (
        codes_by_campaign(db, ctx, running, config, outcome)
        if (ctx.coupon_codes or ctx.referral_code)
        else {}
    )
    remaining = [ctx.cart_total]
    for campaign in running_list:
        codes = offered.get(campaign["id"], {})
        used: dict[str, bool] = {}
        fired = False
        for rule_index, rule in enumerate(campaign.get("rules", [])):
            conditions = rule.get("conditions", [])
            if not all(condition_holds(db, ctx, c, codes) for c in conditions):
                outcome.failures.append(failure(campaign, rule_index, rule))
                continue
            built = build_effects(db, ctx, campaign, rule_index, rule, remaining)
            if built is None:
                outcome.failures.append(failure(campaign, rule_index, rule))
                continue
            fired = True
            for kind in ("coupon", "referral"):
                if codes.get(kind) and any(kind in c for c in conditions) and not used.get(kind):
                    used[kind] = True
                    accept = "acceptCoupon" if kind == "coupon" else "acceptReferral"
                    outcome.effects.append(
                        effect(campaign, rule_index, rule["title"], accept, {"value": codes[kind]})
                    )
            outcome.effects.extend(built)
        for kind in ("coupon", "referral"):
            code = codes.get(kind)
            if code and not used.get(kind):
                prefix = "Coupon" if kind == "coupon" else "Referral"
                outcome.effects.append(
                    code_rejection(kind, code, f"{prefix}RejectedByCondition", campaign)
                )
        if used.get("coupon"):
            outcome.accepted_coupons.append(codes["coupon"])  # type: ignore[arg-type]
        if used.get("referral"):
            outcome.accepted_referral = codes["referral"]
        if fired:
            outcome.triggered.append(campaign)
    return outcome


def failure(campaign: dict[str, Any], rule_index: int, rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "campaignID": campaign["id"],
        "campaignName": campaign["name"],
        "rulesetID": campaign.get("rulesetId", campaign["id"]),
        "ruleIndex": rule_index,
        "ruleName": rule["title"],
    }
