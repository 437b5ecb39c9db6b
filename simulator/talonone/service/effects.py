"""Effects as the API returns them, and the rollback effects that undo them."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from simulator.core.formats import number

TRANSACTION_NAMESPACE = uuid.UUID("6f1d3c52-8a47-4f0e-9b1e-3c2a5d7e9f10")
_NAMESPACE_SHA1 = hashlib.sha1(TRANSACTION_NAMESPACE.bytes)
LOYALTY_EFFECTS = ("addLoyaltyPoints", "deductLoyaltyPoints")


def effect(
    campaign: dict[str, Any] | None, rule_index: int, rule_name: str, effect_type: str, props: dict
) -> dict[str, Any]:
    return {
        "campaignId": campaign["id"] if campaign else 0,
        "rulesetId": campaign.get("rulesetId", campaign["id"]) if campaign else 0,
        "ruleIndex": rule_index,
        "ruleName": rule_name,
        "effectType": effect_type,
        "props": props,
    }


def transaction_uuid(tenant_id: str, owner: str, *parts: object) -> str:
    """Stable per session/event, campaign, rule and effect: the ledger can key on it.

    The text of `uuid.uuid5(TRANSACTION_NAMESPACE, key)`, built without the UUID object and
    from a hash already fed the namespace (this runs for every loyalty effect of every session
    update)."""
    key = ":".join([tenant_id, owner, *map(str, parts)])
    hashed = _NAMESPACE_SHA1.copy()
    hashed.update(key.encode())
    digest = bytearray(hashed.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def rollback_of(item: dict[str, Any], share: float = 1.0) -> dict[str, Any] | None:
    """The rollback effect of one effect (None for effects that are not rolled back here).

    Loyalty rollbacks are written by the loyalty part (it answers them from its ledger).
    `share` is the part being rolled back (a return rolls back a part of a discount).
    """
    props = item.get("props") or {}
    kind = item["effectType"]
    if kind == "setDiscount":
        new_props = {"name": props["name"], "value": number(props["value"] * share)}
        if "scope" in props:
            new_props["scope"] = props["scope"]
        return {**item, "effectType": "rollbackDiscount", "props": new_props}
    if kind == "setDiscountPerItem":
        new_props = {
            "name": props["name"],
            "value": number(props["value"] * share),
            "cartItemPosition": props["position"],
        }
        return {**item, "effectType": "rollbackDiscount", "props": new_props}
    if kind == "acceptCoupon":
        return {**item, "effectType": "rollbackCoupon", "props": {"value": props["value"]}}
    if kind == "acceptReferral":
        return {**item, "effectType": "rollbackReferral", "props": {"value": props["value"]}}
    return None


def rollbacks(effects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in (rollback_of(e) for e in effects) if r is not None]


def scale(item: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same effect with its value scaled (what stays valid after a partial return)."""
    props = dict(item.get("props") or {})
    props["value"] = number(props["value"] * factor)
    return {**item, "props": props}
