"""A session's cart: catalog enrichment, the items as rules see them, the totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.service import catalogs


@dataclass
class Totals:
    cart_items: float
    additional_costs: float
    item_costs: float

    @property
    def total(self) -> float:
        return self.cart_items + self.additional_costs + self.item_costs


def enrich_cart(
    db: Store, tenant: Tenant, items: list[dict[str, Any]]
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
    items: list[dict[str, Any]], db: Store, tenant_id: str, catalog: dict | None = None
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
