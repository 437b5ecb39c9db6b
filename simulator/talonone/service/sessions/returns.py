"""ReturnCartItems: units of a closed session returned, their share of the effects rolled back;
replayed for a repeated Idempotency-Key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from simulator.core.formats import number
from simulator.core.ids import next_value
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonIdempotentResponse, TalonReturn, TalonSession
from simulator.talonone.parsing import (
    RETURN_RESPONSE_CONTENT,
    check_keys,
    expect_int,
    expect_list,
    expect_object,
    expect_str,
    invalid,
    response_content,
)
from simulator.talonone.service import campaigns
from simulator.talonone.service.effects import rollback_of, scale
from simulator.talonone.service.event_store import new_event_id, record_event
from simulator.talonone.service.loyalty.session_effects import on_session_return
from simulator.talonone.service.profile_store import get_profile, save_profile_figures
from simulator.talonone.service.sessions.store import require_session, save_session
from simulator.talonone.service.sessions.views import return_view, state_response

IDEMPOTENCY_TTL = timedelta(hours=24)


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
    db: Store,
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
    profile = get_profile(db, tenant.id, stored.profile_id) if stored.profile_id else None
    extra = []
    if not dry:
        extra = on_session_return(
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
    event_id = 0 if dry else new_event_id(db, tenant.id)
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
            save_profile_figures(db, profile, 0, -value_back)
        save_session(db, session, stored)
        event = record_event(
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
            back["value"] = number(back["value"] * share)
            back["effectType"] = kind
            loyalty_back.append(back)
        else:
            rollback = rollback_of(item, share)
            if rollback is not None:
                undo.append(rollback)
        if share < 1.0:
            kept.append(scale(item, 1.0 - share))
    return undo, kept, loyalty_back
