"""Customer sessions: UpdateCustomerSessionV2, GetCustomerSession, ReopenCustomerSession and
ReturnCartItems, with the state machine of the API (talonone.md §4, §5).

Writes on one session are optimistic: an update applies only if `updateCount` is still the one
read; a concurrent writer that lost the race gets the documented 409.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, bindparam, cast, exists, insert, literal, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.formats import JsonText
from simulator.core.ids import next_value
from simulator.core.models import Tenant
from simulator.core.storable import MAX_AMOUNT
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import (
    TalonConfig,
    TalonIdempotentResponse,
    TalonProfile,
    TalonReturn,
    TalonSession,
)
from simulator.talonone.schemas import (
    RETURN_RESPONSE_CONTENT,
    SESSION_RESPONSE_CONTENT,
    SESSION_STATES,
    check_attributes,
    check_keys,
    expect_enum,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_str,
    int_list,
    invalid,
    response_content,
)
from simulator.talonone.service import campaigns, catalogs, events, hooks, profiles, rules
from simulator.talonone.service.effects import money, rollback_of, rollbacks, scale

SESSION_FIELDS = {
    "profileId",
    "storeIntegrationId",
    "evaluableCampaignIds",
    "couponCodes",
    "referralCode",
    "loyaltyCards",
    "state",
    "cartItems",
    "additionalCosts",
    "identifiers",
    "attributes",
    "experimentVariantAllocations",
}
CART_ITEM_FIELDS = {
    "name",
    "sku",
    "quantity",
    "returnedQuantity",
    "remainingQuantity",
    "price",
    "category",
    "product",
    "weight",
    "height",
    "width",
    "length",
    "position",
    "attributes",
    "additionalCosts",
    "catalogItemID",
    "selectedPriceType",
    "adjustmentReferenceId",
    "adjustmentEffectiveFrom",
    "adjustmentEffectiveUntil",
    "prices",
}
# Documented for cartItems: "Do not exceed 1000 items and ensure the sum of all cart item's
# `quantity` does not exceed 10.000 per request"; both are refused with a 400 beyond.
MAX_CART_ITEMS = 1000
MAX_CART_QUANTITY = 10_000
CONTENT_KEYS = SESSION_FIELDS - {"state"}
IDEMPOTENCY_TTL = timedelta(hours=24)
TRANSITIONS = {
    ("open", "open"),
    ("open", "closed"),
    ("open", "cancelled"),
    ("closed", "cancelled"),
    ("partially_returned", "cancelled"),
}


def not_found(integration_id: str) -> TalonOneError:
    return TalonOneError(
        404,
        f"Customer session {integration_id} not found",
        title="Not found",
        parameter="customerSessionId",
    )


# --- request validation -----------------------------------------------------------------------


def check_costs(value: Any, pointer: str) -> dict[str, dict[str, float | int]]:
    costs = expect_object(value, pointer)
    for name, cost in costs.items():
        cost = expect_object(cost, f"{pointer}/{name}")
        if "price" not in cost:
            raise invalid(f"{pointer}/{name}/price", "price is required", "required")
        expect_number(cost["price"], f"{pointer}/{name}/price")
    return {name: {"price": cost["price"]} for name, cost in costs.items()}


# What the simulator computes for an item: sent values are dropped.
COMPUTED_ITEM_FIELDS = frozenset(
    ("returnedQuantity", "remainingQuantity", "position", "catalogItemID")
)
CART_ITEM_NUMBERS = ("price", "weight", "height", "width", "length")
CART_ITEM_TEXTS = ("name", "category", "selectedPriceType")
CART_ITEM_SCALARS = {key: float for key in CART_ITEM_NUMBERS} | {
    key: str for key in CART_ITEM_TEXTS
}


def plain_cart_item(item: Any) -> bool:
    """True for the usual item: known fields only, sku, quantity and the other scalars of the
    right type and range. It builds no pointer; `check_cart_item_scalars` names what is wrong
    (a session update checks every field of every item, so this is on the hot path)."""
    return _plain_item(item) is not None


def _plain_item(item: Any) -> bool | None:
    """None unless the item is plain; else whether it is also kept as sent (no null value, no
    field the simulator computes), so that no copy of it need be made."""
    if type(item) is not dict:
        return None
    sku, quantity = item.get("sku"), item.get("quantity")
    if type(sku) is not str or not sku or type(quantity) is not int:
        return None
    if not 1 <= quantity <= MAX_CART_QUANTITY:
        return None
    as_sent = True
    for key, value in item.items():
        kind = CART_ITEM_SCALARS.get(key)
        if value is None or key in COMPUTED_ITEM_FIELDS:
            as_sent = False
        if kind is None:
            if key not in CART_ITEM_FIELDS:
                return None
        elif value is None:
            continue
        elif kind is float:
            if not (type(value) in (int, float) and 0 <= value <= MAX_AMOUNT):
                return None  # a bool, a string, NaN, a negative or too large a number
        elif type(value) is not str:
            return None
    return as_sent


def check_cart_item_scalars(item: Any, pointer: str) -> dict[str, Any]:
    item = expect_object(item, pointer)
    check_keys(item, pointer, CART_ITEM_FIELDS)
    if "sku" not in item:
        raise invalid(f"{pointer}/sku", "sku is required", "required")
    expect_str(item["sku"], f"{pointer}/sku", min_length=1)
    if "quantity" not in item:
        raise invalid(f"{pointer}/quantity", "quantity is required", "required")
    expect_int(item["quantity"], f"{pointer}/quantity", minimum=1, maximum=MAX_CART_QUANTITY)
    for key in CART_ITEM_NUMBERS:
        if item.get(key) is not None:
            expect_number(item[key], f"{pointer}/{key}", minimum=0)
    for key in CART_ITEM_TEXTS:
        if item.get(key) is not None:
            expect_str(item[key], f"{pointer}/{key}")
    return item


def check_cart_item(item: Any, pointer: str, definitions: dict[str, str]) -> dict[str, Any]:
    as_sent = _plain_item(item)
    if as_sent is None:
        item = check_cart_item_scalars(item, pointer)
    if item.get("product") is not None:
        product = expect_object(item["product"], f"{pointer}/product")
        expect_str(product.get("name"), f"{pointer}/product/name")
    if item.get("attributes") is not None:
        check_attributes(item["attributes"], f"{pointer}/attributes", "CartItem", definitions)
    if item.get("additionalCosts") is not None:
        check_costs(item["additionalCosts"], f"{pointer}/additionalCosts")
    if as_sent:  # the body's own dict (this request's; enrich_cart copies it)
        return item
    return {k: v for k, v in item.items() if v is not None and k not in COMPUTED_ITEM_FIELDS}


def check_session_request(body: Any, config: TalonConfig) -> tuple[dict[str, Any], set[str]]:
    """(the customerSession fields sent, the responseContent asked for)."""
    body = expect_object(body, "")
    check_keys(body, "", {"customerSession", "responseContent"})
    wanted = response_content(body, SESSION_RESPONSE_CONTENT)
    if "customerSession" not in body:
        raise invalid("/customerSession", "customerSession is required", "required")
    sent = expect_object(body["customerSession"], "/customerSession")
    check_keys(sent, "/customerSession", SESSION_FIELDS)
    p = "/customerSession"
    data: dict[str, Any] = {}
    if sent.get("profileId") is not None:
        data["profileId"] = expect_str(sent["profileId"], f"{p}/profileId", max_length=1000)
    if sent.get("storeIntegrationId") is not None:
        data["storeIntegrationId"] = expect_str(
            sent["storeIntegrationId"], f"{p}/storeIntegrationId", 1, 1000
        )
    if sent.get("evaluableCampaignIds") is not None:
        data["evaluableCampaignIds"] = int_list(
            sent["evaluableCampaignIds"], f"{p}/evaluableCampaignIds"
        )
    if sent.get("couponCodes") is not None:
        codes = expect_list(sent["couponCodes"], f"{p}/couponCodes")
        data["couponCodes"] = [
            expect_str(c, f"{p}/couponCodes/{i}", max_length=100) for i, c in enumerate(codes)
        ]
    if sent.get("referralCode") is not None:
        data["referralCode"] = expect_str(sent["referralCode"], f"{p}/referralCode", 0, 100)
    if sent.get("loyaltyCards") is not None:
        cards = expect_list(sent["loyaltyCards"], f"{p}/loyaltyCards", 1)
        data["loyaltyCards"] = [
            expect_str(c, f"{p}/loyaltyCards/{i}", 4, 108) for i, c in enumerate(cards)
        ]
    if sent.get("identifiers") is not None:
        identifiers = expect_list(sent["identifiers"], f"{p}/identifiers", 5)
        data["identifiers"] = [
            expect_str(c, f"{p}/identifiers/{i}") for i, c in enumerate(identifiers)
        ]
    if sent.get("state") is not None:
        data["state"] = expect_enum(sent["state"], f"{p}/state", SESSION_STATES)
    if sent.get("cartItems") is not None:
        items = expect_list(sent["cartItems"], f"{p}/cartItems", MAX_CART_ITEMS)
        definitions = campaigns.attribute_definitions(config, "CartItem")
        data["cartItems"] = [
            check_cart_item(item, f"{p}/cartItems/{i}", definitions) for i, item in enumerate(items)
        ]
        if sum(item["quantity"] for item in data["cartItems"]) > MAX_CART_QUANTITY:
            raise invalid(
                f"{p}/cartItems",
                f"The cart items' quantities must add up to at most {MAX_CART_QUANTITY}",
                "maximum",
            )
    if sent.get("additionalCosts") is not None:
        data["additionalCosts"] = check_costs(sent["additionalCosts"], f"{p}/additionalCosts")
    if sent.get("attributes") is not None:
        data["attributes"] = check_attributes(
            sent["attributes"],
            f"{p}/attributes",
            "CustomerSession",
            campaigns.attribute_definitions(config, "CustomerSession"),
        )
    return data, wanted


# --- cart -------------------------------------------------------------------------------------


@dataclass
class Totals:
    cart_items: float
    additional_costs: float
    item_costs: float

    @property
    def total(self) -> float:
        return self.cart_items + self.additional_costs + self.item_costs


def enrich_cart(
    db: Session, tenant: Tenant, items: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Positions, catalog prices/ids; also the catalog items found (for rule attributes)."""
    skus = {i["sku"] for i in items}
    catalog = catalogs.items_by_sku(db, tenant.id, skus, tenant.cache_revision)
    enriched = []
    for position, item in enumerate(items):
        line = dict(item)
        line["position"] = position
        known = catalog.get(item["sku"])
        if known is not None:
            line["catalogItemID"] = known.id
            if "price" not in line and known.price is not None:
                line["price"] = known.price
            if "product" not in line and known.product_name:
                line["product"] = {"name": known.product_name}
        line.setdefault("returnedQuantity", 0)
        line["remainingQuantity"] = line["quantity"] - line["returnedQuantity"]
        enriched.append(line)
    return enriched, catalog


def rule_items(
    items: list[dict[str, Any]], db: Session, tenant_id: str, catalog: dict | None = None
) -> list[dict[str, Any]]:
    if catalog is None:
        catalog = catalogs.items_by_sku(db, tenant_id, {i["sku"] for i in items})
    views = []
    for item in items:
        known = catalog.get(item["sku"])
        own = item.get("attributes")
        if not own:  # the catalog's attributes as they are (rules only read them)
            attributes = known.attributes if known is not None and known.attributes else {}
        else:
            attributes = {**(known.attributes if known else {}), **own}
        views.append(
            {
                "sku": item["sku"],
                "quantity": item["quantity"],
                "price": item.get("price", 0) or 0,
                "position": item["position"],
                "ruleAttributes": attributes,
            }
        )
    return views


def totals(data: dict[str, Any]) -> Totals:
    """Cart items, additional costs and the items' own costs, in one pass over the items."""
    cart_items: float = 0
    item_costs: float = 0
    for item in data.get("cartItems") or ():
        quantity = item["quantity"]
        cart_items += (item.get("price") or 0) * quantity
        costs = item.get("additionalCosts")
        if costs:
            for cost in costs.values():
                item_costs += cost["price"] * quantity
    additional = sum(c["price"] for c in (data.get("additionalCosts") or {}).values())
    return Totals(cart_items=cart_items, additional_costs=additional, item_costs=item_costs)


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
        "total": money(sums.total),
        "cartItemTotal": money(sums.cart_items),
        "additionalCostTotal": money(sums.additional_costs),
        "cartItemAdditionalCostTotal": money(sums.item_costs),
        "updated": format_instant(session.updated),
        "updateCount": session.update_count,
    }
    for key in ("storeIntegrationId", "evaluableCampaignIds"):
        if key in data:
            view[key] = data[key]
    if data.get("referralCode"):
        view["referralCode"] = data["referralCode"]
    return view


SESSIONS = TalonSession.__table__
# Built once (the hot paths): building a statement costs more than running it.
SESSION_BY_INTEGRATION_ID = fastsql.prepared(
    core_select(SESSIONS).where(
        SESSIONS.c.tenant_id == bindparam("tenant"),
        SESSIONS.c.integration_id == bindparam("integration_id"),
    )
)
_TENANTS = Tenant.__table__
# GetCustomerSession in one query: the session joined to the tenant of the API key, its effects
# read as text (answered as stored, never parsed). A wrong key or an unknown session finds no
# row.
SESSION_FOR_KEY = fastsql.prepared(
    core_select(
        *[column for column in SESSIONS.c if column.name != "effects"],
        cast(SESSIONS.c.effects, Text).label("effects"),
        _TENANTS.c.quota_requests_per_second,
    )
    .select_from(SESSIONS.join(_TENANTS, _TENANTS.c.id == SESSIONS.c.tenant_id))
    .where(
        _TENANTS.c.talonone_api_key == bindparam("api_key"),
        SESSIONS.c.integration_id == bindparam("integration_id"),
    )
)
INSERT_SESSION = fastsql.prepared(insert(SESSIONS))
SAVED_COLUMNS = (
    "profile_id",
    "state",
    "data",
    "effects",
    "update_count",
    "counted_sales",
    "updated",
    "tentative_card",
)
UPDATE_SESSION = fastsql.prepared(
    update(SESSIONS)
    .where(
        SESSIONS.c.tenant_id == bindparam("where_tenant"),
        SESSIONS.c.id == bindparam("where_id"),
        SESSIONS.c.update_count == bindparam("where_update_count"),
    )
    .values({name: bindparam(f"new_{name}") for name in SAVED_COLUMNS})
)


@dataclass
class SessionState:
    """A session as the update path works on it (a plain object: no ORM bookkeeping)."""

    tenant_id: str
    id: int
    integration_id: str
    profile_id: str
    state: str
    data: dict[str, Any]
    effects: list[Any]
    first_session: bool
    update_count: int
    counted_sales: float
    created: datetime
    updated: datetime
    tentative_card: str | None = None


SESSION_COLUMNS = tuple(f.name for f in fields(SessionState))


# An update naming its profile: the stored session (if any), the profile (if any) and whether
# the profile had a session before, in one query (a row even when neither exists).
_STORED = SESSIONS.alias("stored")
_NAMED = profiles.PROFILES.alias("named")
_HAD_SESSION = (
    exists()
    .where(
        SESSIONS.c.tenant_id == _NAMED.c.tenant_id, SESSIONS.c.profile_id == _NAMED.c.integration_id
    )
    .label("had_session")
)
SESSION_AND_PROFILE = fastsql.prepared(
    core_select(
        *[column.label(f"s_{column.name}") for column in _STORED.c],
        *[column.label(f"p_{column.name}") for column in _NAMED.c],
        _HAD_SESSION,
    ).select_from(
        core_select(literal(1).label("one"))
        .subquery("one")
        .outerjoin(
            _STORED,
            and_(
                _STORED.c.tenant_id == bindparam("tenant"),
                _STORED.c.integration_id == bindparam("integration_id"),
            ),
        )
        .outerjoin(
            _NAMED,
            and_(
                _NAMED.c.tenant_id == bindparam("tenant"),
                _NAMED.c.integration_id == bindparam("profile_id"),
            ),
        )
    )
)
_STORED_ROW = namedtuple("StoredSession", [column.name for column in SESSIONS.c])  # type: ignore[misc]
_SESSION_WIDTH = len(SESSIONS.c)


def session_and_profile(
    db: Session | fastsql.Lease, tenant_id: str, integration_id: str, profile_id: str
) -> tuple[Any, profiles.ProfileState | None, bool]:
    """(the stored session as a Core row or None, its named profile or None, whether that
    profile had a session before)."""
    parameters = {"tenant": tenant_id, "integration_id": integration_id, "profile_id": profile_id}
    row = fastsql.execute(db, SESSION_AND_PROFILE, parameters).first()
    stored = _STORED_ROW._make(row[:_SESSION_WIDTH]) if row.s_tenant_id is not None else None
    if row.p_tenant_id is None:
        return stored, None, False
    values = {name: getattr(row, f"p_{name}") for name in profiles.PROFILE_COLUMNS}
    return stored, profiles.ProfileState(**values), bool(row.had_session)


def session_row(db: Session | fastsql.Lease, tenant_id: str, integration_id: str) -> Any:
    """The stored session as a Core row (read-only), or None."""
    parameters = {"tenant": tenant_id, "integration_id": integration_id}
    return fastsql.execute(db, SESSION_BY_INTEGRATION_ID, parameters).first()


def get_session(db: Session, tenant_id: str, integration_id: str) -> TalonSession | None:
    statement = select(TalonSession).where(
        TalonSession.tenant_id == tenant_id, TalonSession.integration_id == integration_id
    )
    return db.exec(statement).first()


def require_session(db: Session, tenant_id: str, integration_id: str) -> TalonSession:
    session = get_session(db, tenant_id, integration_id)
    if session is None:
        raise not_found(integration_id)
    return session


# --- the state machine ------------------------------------------------------------------------


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


# --- UpdateCustomerSessionV2 ------------------------------------------------------------------


@dataclass
class Request:
    integration_id: str
    data: dict[str, Any]
    wanted: set[str]
    dry: bool


def evaluate_session(
    db: Session,
    config: TalonConfig,
    tenant_id: str,
    now: datetime,
    session: TalonSession,
    profile: TalonProfile | None,
    catalog: dict | None = None,
    dry: bool = False,
) -> rules.Outcome:
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
    return rules.evaluate(db, config, ctx)


def update_session(
    db: Session,
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
    if named:  # the usual update: session and profile in one read
        stored, named_profile, named_had_session = session_and_profile(
            db, tenant_id, integration_id, named
        )
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
    if named and profile_id == named:  # read with the session
        profile = named_profile
        if stored is None:
            # A profile created by this very request has had no session before.
            session.first_session = not named_had_session
    else:  # the stored session's own profile (a new session names one, or has none)
        profile = profiles.profile_state(db, tenant_id, profile_id) if profile_id else None
    if profile_id and profile is None:
        if dry:
            profile = profiles.unsaved_profile_state(tenant_id, profile_id, now)
        else:
            profile = profiles.create_profile_state(db, tenant_id, profile_id, now)
    if state == "cancelled":
        outcome = rules.Outcome()
    else:
        outcome = evaluate_session(db, config, tenant_id, now, session, profile, catalog, dry)
    effects = list(outcome.effects)
    if not dry:
        # The profile's row before its ledgers, as every writer of both takes them (a
        # deduction's check locks the profile first: loyalty_ledger.lock_ledgers).
        closing = state == "closed"
        if closing:
            session.counted_sales = totals(session.data).total
        if profile is not None and profile.id:
            profile.last_activity = now
            profiles.save_profile_figures(
                db, profile, int(closing), session.counted_sales if closing else 0.0
            )
    extra = hooks.on_session_change(
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
    session.effects = effects if state != "cancelled" else []
    event = None
    if not dry:
        if state == "closed":
            redeem_codes(db, tenant_id, now, session, outcome)
        save_session(db, session, stored)
        if "event" in wanted:  # no operation reads it otherwise: stored only when asked for
            event = events.record_event(
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
    db: Session, tenant_id: str, now: datetime, session: TalonSession, outcome: rules.Outcome
) -> None:
    """Closing redeems the accepted coupon and referral codes."""
    hooks.redeem_coupons(
        db,
        tenant_id,
        now,
        session_id=session.integration_id,
        profile_id=session.profile_id or None,
        codes=outcome.accepted_coupons,
    )
    hooks.redeem_referral(
        db,
        tenant_id,
        now,
        session_id=session.integration_id,
        profile_id=session.profile_id or None,
        code=outcome.accepted_referral,
    )


def uncount_session(
    db: Session, tenant_id: str, session: TalonSession, profile: TalonProfile | None
) -> None:
    """Cancelling or reopening a closed session: codes usable again, figures taken back."""
    hooks.release_coupons(db, tenant_id, session_id=session.integration_id)
    hooks.release_referral(db, tenant_id, session_id=session.integration_id)
    if profile is not None and profile.id:
        profiles.save_profile_figures(db, profile, -1, -session.counted_sales, active=False)
    session.counted_sales = 0.0


def save_session(db: Session, session: Any, stored: Any) -> None:
    """Insert, or update only if nobody else updated the session since we read it (409).

    `session` is a SessionState or a TalonSession, `stored` the ORM object or Core row read
    (None for a new session); Core statements either way. An open session's row marks its
    loyalty effects as its tentative figures (`tentative_card`, read by the loyalty part).
    """
    session.tentative_card = (
        hooks.tentative_card(session.effects or []) if session.state == "open" else None
    )
    if stored is None:
        session.id = next_value(db, session.tenant_id, "talonone.session")
        values = {name: getattr(session, name) for name in SESSION_COLUMNS}
        try:
            fastsql.execute(db, INSERT_SESSION, values)
        except IntegrityError:  # another request created it meanwhile: nothing of ours stays
            db.rollback()
            raise profiles.conflict() from None
        return
    parameters = {f"new_{name}": getattr(session, name) for name in SAVED_COLUMNS}
    parameters["where_tenant"] = session.tenant_id
    parameters["where_id"] = stored.id
    parameters["where_update_count"] = stored.update_count
    result = fastsql.execute(db, UPDATE_SESSION, parameters)
    if result.rowcount != 1:
        raise profiles.conflict()
    if isinstance(stored, TalonSession):
        db.expire(stored)


def update_finished_session(
    db: Session,
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
    profile = profiles.get_profile(db, tenant.id, stored.profile_id) if stored.profile_id else None
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
    extra = hooks.on_session_change(
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
        event = events.record_event(
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


def state_response(
    db: Session,
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
        response["customerProfile"] = profiles.profile_view(db, tenant, profile)
    if "triggeredCampaigns" in wanted:
        triggered = outcome.triggered if outcome else []
        response["triggeredCampaigns"] = [
            campaigns.campaign_view(config, c, now) for c in triggered
        ]
    if "ruleFailureReasons" in wanted:
        response["ruleFailureReasons"] = outcome.failures if outcome else []
    if "loyalty" in wanted and session.profile_id:
        response["loyalty"] = hooks.profile_loyalty_block(db, tenant.id, now, session.profile_id)
    if "event" in wanted and event is not None:
        response["event"] = events.event_view(config.application_id, event)
    if "awardedGiveaways" in wanted:
        response["awardedGiveaways"] = []
    data = session.data or {}
    if "coupons" in wanted:
        response["coupons"] = hooks.session_coupons(
            db, tenant.id, data.get("couponCodes") or [], session.profile_id
        )
    if "referral" in wanted and data.get("referralCode"):
        referral = hooks.session_referral(db, tenant.id, data["referralCode"])
        if referral is not None:
            response["referral"] = referral
    if "previousReturns" in wanted:
        response["previousReturns"] = [
            return_view(config, r) for r in previous_returns(db, tenant.id, session)
        ]
    if extra:
        response.update(extra)
    return response


# --- GetCustomerSession / ReopenCustomerSession -----------------------------------------------


def session_for_key(db: fastsql.Lease, api_key: str, integration_id: str) -> Any:
    """GetCustomerSession's row: the session with its tenant's id and rate quota, found by the
    tenant's API key (one Core read, no ORM object: the hot read path); None when the key or
    the session is unknown."""
    parameters = {"api_key": api_key, "integration_id": integration_id}
    return fastsql.execute(db, SESSION_FOR_KEY, parameters).first()


def session_answer(db: fastsql.Lease, row: Any) -> dict[str, Any]:
    """The GetCustomerSession body of that row (its effects answered as stored)."""
    config = campaigns.load_config(db, row.tenant_id)
    effects = row.effects if row.effects not in (None, "null") else "[]"
    return {"customerSession": session_view(config, row), "effects": JsonText(effects)}


def reopen_session(
    db: Session, tenant: Tenant, now: datetime, integration_id: str
) -> dict[str, Any]:
    """closed -> open: rollback effects for what the close applied (ReopenSessionResponse)."""
    stored = require_session(db, tenant.id, integration_id)
    if stored.state != "closed":
        raise TalonOneError(
            400,
            f"Only a closed customer session can be reopened (this one is {stored.state})",
            title="Invalid state transition",
            parameter="customerSessionId",
        )
    profile = profiles.get_profile(db, tenant.id, stored.profile_id) if stored.profile_id else None
    undo = rollbacks(stored.effects or [])
    extra = hooks.on_session_change(
        db,
        tenant.id,
        now,
        session_id=stored.integration_id,
        profile_id=stored.profile_id or None,
        previous_state="closed",
        state="open",
        effects=stored.effects or [],
        dry=False,
    )
    session = TalonSession.model_validate(stored.model_dump())
    session.state = "open"
    session.update_count = stored.update_count + 1
    session.updated = now
    uncount_session(db, tenant.id, session, profile)
    save_session(db, session, stored)
    events.record_event(
        db,
        tenant.id,
        now,
        event_type="talon_session_reopened",
        profile_id=session.profile_id,
        session_id=session.integration_id,
        effects=undo + extra,
    )
    db.flush()
    return {"effects": undo + extra}


# --- ReturnCartItems --------------------------------------------------------------------------


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


def previous_returns(db: Session, tenant_id: str, session: TalonSession) -> list[TalonReturn]:
    statement = (
        select(TalonReturn)
        .where(
            TalonReturn.tenant_id == tenant_id,
            TalonReturn.session_integration_id == session.integration_id,
        )
        .order_by(col(TalonReturn.id))
    )
    return list(db.exec(statement).all())


def check_return_request(
    body: Any, items: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], set[str]]:
    """The returned lines as {position, quantity, sku} (quantities summed per position)."""
    body = expect_object(body, "")
    check_keys(body, "", {"return", "responseContent"})
    wanted = response_content(body, RETURN_RESPONSE_CONTENT)
    if "return" not in body:
        raise invalid("/return", "return is required", "required")
    payload = expect_object(body["return"], "/return")
    if "returnedCartItems" not in payload:
        raise invalid("/return/returnedCartItems", "returnedCartItems is required", "required")
    lines = expect_list(payload["returnedCartItems"], "/return/returnedCartItems")
    if not lines:
        raise invalid("/return/returnedCartItems", "returnedCartItems must not be empty")
    taken: dict[int, int] = {}
    returned = []
    for index, line in enumerate(lines):
        where = f"/return/returnedCartItems/{index}"
        line = expect_object(line, where)
        position = line.get("position")
        sku = line.get("sku")
        if position is not None:
            position = expect_int(position, f"{where}/position", minimum=0)
            if position >= len(items):
                raise invalid(f"{where}/position", f"No cart item at position {position}")
            if sku is not None and expect_str(sku, f"{where}/sku", 1) != items[position]["sku"]:
                raise invalid(f"{where}/sku", f"The cart item at position {position} is not {sku}")
        elif sku is not None:
            expect_str(sku, f"{where}/sku", min_length=1)
            candidates = [
                i["position"]
                for i in items
                if i["sku"] == sku and i["remainingQuantity"] - taken.get(i["position"], 0) > 0
            ]
            if not candidates:
                raise invalid(f"{where}/sku", f"No returnable cart item with SKU {sku}")
            position = candidates[0]
        else:
            raise invalid(f"{where}/position", "position or sku is required", "required")
        remaining = items[position]["remainingQuantity"] - taken.get(position, 0)
        quantity = line.get("quantity")
        if quantity is None:
            quantity = remaining
        else:
            quantity = expect_int(quantity, f"{where}/quantity", minimum=1)
        if quantity > remaining or quantity == 0:
            raise invalid(
                f"{where}/quantity",
                f"Cannot return {quantity} of the cart item at position {position}: "
                f"{remaining} remaining",
            )
        taken[position] = taken.get(position, 0) + quantity
        returned.append({"position": position, "quantity": quantity, "sku": items[position]["sku"]})
    return returned, wanted


def return_items(
    db: Session,
    tenant: Tenant,
    now: datetime,
    integration_id: str,
    body: Any,
    *,
    dry: bool,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Return units of a closed session: rollback effects for their share, state
    partially_returned, the profile's totalSales reduced. Replays a stored answer for a key."""
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 255:
            raise TalonOneError(
                400,
                "Idempotency-Key must be 1 to 255 characters",
                title="Invalid value",
                parameter="Idempotency-Key",
            )
        replay = db.get(TalonIdempotentResponse, (tenant.id, idempotency_key))
        if replay is not None and replay.created + IDEMPOTENCY_TTL > now:
            return replay.body
    config = campaigns.load_config(db, tenant.id)
    stored = require_session(db, tenant.id, integration_id)
    if stored.state not in ("closed", "partially_returned"):
        raise TalonOneError(
            400,
            f"Cart items can only be returned from a closed session (this one is {stored.state})",
            title="Invalid state",
            parameter="customerSessionId",
        )
    data = stored.data or {}
    items = [dict(i) for i in data.get("cartItems", [])]
    returned, wanted = check_return_request(body, items)
    value_before = sum((i.get("price") or 0) * i["remainingQuantity"] for i in items)
    value_back = 0.0
    shares: dict[int, float] = {}
    for line in returned:
        item = items[line["position"]]
        shares[line["position"]] = shares.get(line["position"], 0) + line["quantity"]
        value_back += (item.get("price") or 0) * line["quantity"]
        item["returnedQuantity"] = item.get("returnedQuantity", 0) + line["quantity"]
        item["remainingQuantity"] = item["quantity"] - item["returnedQuantity"]
    undo, kept, loyalty_back = split_effects(
        stored.effects or [], items, shares, value_back, value_before
    )
    profile = profiles.get_profile(db, tenant.id, stored.profile_id) if stored.profile_id else None
    extra = []
    if not dry:
        extra = hooks.on_session_return(
            db,
            tenant.id,
            now,
            session_id=stored.integration_id,
            profile_id=stored.profile_id or None,
            rollbacks=loyalty_back,
        )
    effects = undo + extra
    session = TalonSession.model_validate(stored.model_dump())
    session.data = {**data, "cartItems": items}
    session.state = "partially_returned"
    session.effects = kept
    session.update_count = stored.update_count + 1
    session.updated = now
    session.counted_sales = max(0.0, stored.counted_sales - value_back)
    event_id = 0 if dry else events.new_event_id(db, tenant.id)
    record = TalonReturn(
        tenant_id=tenant.id,
        id=0 if dry else next_value(db, tenant.id, "talonone.return"),
        session_id=stored.id,
        session_integration_id=stored.integration_id,
        profile_id=stored.profile_id,
        event_id=event_id,
        items=returned,
        created=now,
    )
    event = None
    if not dry:
        if profile is not None:
            profile.last_activity = now
            profiles.save_profile_figures(db, profile, 0, -value_back)
        save_session(db, session, stored)
        event = events.record_event(
            db,
            tenant.id,
            now,
            event_type="talon_session_partially_returned",
            profile_id=session.profile_id,
            session_id=session.integration_id,
            effects=effects,
            event_id=event_id,
        )
        db.add(record)
        db.flush()
    response = state_response(
        db,
        tenant,
        config,
        now,
        session,
        profile,
        effects,
        wanted,
        None,
        event,
        {"return": return_view(config, record)},
    )
    if idempotency_key is not None and not dry:
        db.merge(
            TalonIdempotentResponse(
                tenant_id=tenant.id,
                key=idempotency_key,
                session_integration_id=stored.integration_id,
                body=response,
                created=now,
            )
        )
    return response


def split_effects(
    effects: list[dict[str, Any]],
    items: list[dict[str, Any]],
    returned: dict[int, int],
    value_back: float,
    value_before: float,
) -> tuple[list[dict], list[dict], list[dict]]:
    """(rollback effects, effects still valid, loyalty rollbacks for the loyalty part).

    Per-item discounts roll back the returned units' share of their line; session discounts
    and loyalty points roll back the returned value's share of the cart.
    """
    undo, kept, loyalty_back = [], [], []
    cart_share = value_back / value_before if value_before else 0.0
    for item in effects:
        kind = item["effectType"]
        if kind == "setDiscountPerItem":
            position = int(item["props"]["position"])
            quantity = items[position]["quantity"]
            before = items[position]["returnedQuantity"] - returned.get(position, 0)
            remaining_before = quantity - before
            share = returned.get(position, 0) / remaining_before if remaining_before else 0.0
        elif kind in ("setDiscount", "addLoyaltyPoints", "deductLoyaltyPoints"):
            share = cart_share
        else:
            kept.append(item)
            continue
        if share <= 0:
            kept.append(item)
            continue
        share = min(share, 1.0)
        if kind in ("addLoyaltyPoints", "deductLoyaltyPoints"):
            back = dict(item["props"])
            back["value"] = money(back["value"] * share)
            back["effectType"] = kind
            loyalty_back.append(back)
        else:
            rollback = rollback_of(item, share)
            if rollback is not None:
                undo.append(rollback)
        if share < 1.0:
            kept.append(scale(item, 1.0 - share))
    return undo, kept, loyalty_back
