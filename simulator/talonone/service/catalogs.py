"""Cart-item catalogs: SyncCatalog actions and the SKU lookups that feed rule conditions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy import select as core_select
from sqlmodel import select

from simulator.core import caches, fastsql
from simulator.core.clock import format_instant
from simulator.core.ids import next_value
from simulator.core.storable import length_of, lookup
from simulator.core.store import Store
from simulator.core.tenants import renew_cache_revision
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonCatalog, TalonCatalogItem
from simulator.talonone.parsing import (
    expect_bool,
    expect_enum,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_str,
    invalid,
)
from simulator.talonone.service import best_prior_price
from simulator.talonone.service.campaigns import load_config

ACTION_TYPES = ("ADD", "PATCH", "PATCH_MANY", "REMOVE", "REMOVE_MANY", "ADD_PRICE_ADJUSTMENT")
FILTER_OPS = ("EQ", "LT", "LE", "GT", "GE", "IN")
MAX_ACTIONS = 1000


ITEMS = TalonCatalogItem.__table__
# Built once: every session update looks its SKUs up.
ITEMS_BY_SKU = fastsql.prepared(
    core_select(
        ITEMS.c.sku, ITEMS.c.id, ITEMS.c.price, ITEMS.c.product_name, ITEMS.c.attributes
    ).where(
        ITEMS.c.tenant_id == bindparam("tenant"), ITEMS.c.sku.in_(bindparam("skus", expanding=True))
    )
)


# What this process has read of each tenant's catalog: {sku: item, or None for a SKU no catalog
# has}, under the tenant's cache revision then.
_catalog_items: caches.KnownUnderRevision[str, Any] = caches.KnownUnderRevision(
    "talonone.catalog_items",
    "(store, tenant) -> catalog items by SKU; right while the tenant's cache_revision (read "
    "with the tenant on each request, renewed by every catalog write) is the one they were "
    "read under",
)


def items_by_sku(
    db: Store | fastsql.Lease, tenant_id: str, skus: set[str], revision: int | None = None
) -> dict[str, Any]:
    """Catalog items of the application for these SKUs (read-only rows with sku, id, price,
    product_name and attributes; shared between requests: never change them).

    With the tenant's `cache_revision` (read with the tenant on this request), what this
    process read before under the same revision is used: every catalog write renews the
    revision, so the store is asked only for SKUs not seen since. Without it, one query."""
    if not skus:
        return {}
    if revision is None:
        return read_items(db, tenant_id, skus)
    known = _catalog_items.lookup(
        db.get_bind(), tenant_id, revision, skus, lambda missing: read_items(db, tenant_id, missing)
    )
    return {sku: item for sku, item in known.items() if item is not None}


def read_items(db: Store | fastsql.Lease, tenant_id: str, skus: set[str]) -> dict[str, Any]:
    """One indexed query."""
    rows = fastsql.execute(db, ITEMS_BY_SKU, {"tenant": tenant_id, "skus": sorted(skus)})
    return {row.sku: row for row in rows}


def catalog_view(db: Store, tenant_id: str, catalog: TalonCatalog) -> dict[str, Any]:
    config = load_config(db, tenant_id)
    return {
        "id": catalog.id,
        "created": format_instant(catalog.created),
        "accountId": config.account_id,
        "modified": format_instant(catalog.modified),
        "name": catalog.name,
        "description": catalog.description,
        "subscribedApplicationsIds": [config.application_id],
        "version": catalog.version,
        "createdBy": 1,
    }


# --- request validation -----------------------------------------------------------------------


def check_filters(value: Any, pointer: str) -> list[dict[str, Any]]:
    filters = expect_list(value, pointer)
    for index, item in enumerate(filters):
        where = f"{pointer}/{index}"
        expect_object(item, where)
        expect_str(item.get("attr"), f"{where}/attr", min_length=1)
        op = expect_enum(item.get("op"), f"{where}/op", FILTER_OPS)
        if "value" not in item:
            raise invalid(f"{where}/value", "value is required", "required")
        if op in ("LT", "LE", "GT", "GE"):
            expect_number(item["value"], f"{where}/value")
    return filters


def check_item_fields(payload: dict[str, Any], pointer: str) -> None:
    if payload.get("price") is not None:
        expect_number(payload["price"], f"{pointer}/price")
    if payload.get("attributes") is not None:
        expect_object(payload["attributes"], f"{pointer}/attributes")
    if payload.get("product") is not None:
        product = expect_object(payload["product"], f"{pointer}/product")
        expect_str(product.get("name"), f"{pointer}/product/name", min_length=1)


def check_actions(body: Any) -> tuple[str, list[dict[str, Any]], int | None]:
    """(the one action type, payloads, version) or a 400 with a pointer."""
    body = expect_object(body, "")
    actions = body.get("actions")
    if actions is None:
        raise invalid("/actions", "actions is required", "required")
    actions = expect_list(actions, "/actions", MAX_ACTIONS)
    if not actions:
        raise invalid("/actions", "actions must have at least 1 item", "minItems")
    version = None
    if body.get("version") is not None:
        version = expect_int(body["version"], "/version", minimum=1)
    kinds = set()
    payloads = []
    skus: set[str] = set()
    for index, action in enumerate(actions):
        where = f"/actions/{index}"
        expect_object(action, where)
        kind = expect_enum(action.get("type"), f"{where}/type", ACTION_TYPES)
        kinds.add(kind)
        if len(kinds) > 1:
            raise invalid(f"{where}/type", "Only one action type is allowed per request")
        payload = expect_object(action.get("payload"), f"{where}/payload")
        if kind in ("ADD", "PATCH", "REMOVE", "ADD_PRICE_ADJUSTMENT"):
            sku = expect_str(payload.get("sku"), f"{where}/payload/sku", 1, SKU_LENGTH)
            if sku in skus:
                raise invalid(f"{where}/payload/sku", f"Duplicate SKU {sku!r} in the request")
            skus.add(sku)
        if kind in ("ADD", "PATCH", "PATCH_MANY"):
            check_item_fields(payload, f"{where}/payload")
        if kind == "ADD" and "replaceIfExists" in payload:
            expect_bool(payload["replaceIfExists"], f"{where}/payload/replaceIfExists")
        if kind == "PATCH" and "createIfNotExists" in payload:
            expect_bool(payload["createIfNotExists"], f"{where}/payload/createIfNotExists")
        if kind in ("PATCH_MANY", "REMOVE_MANY"):
            check_filters(payload.get("filters", []), f"{where}/payload/filters")
        if kind == "ADD_PRICE_ADJUSTMENT":
            expect_list(payload.get("adjustments"), f"{where}/payload/adjustments")
        payloads.append(payload)
    return kinds.pop(), payloads, version


# --- filters ----------------------------------------------------------------------------------


def item_value(item: TalonCatalogItem, attr: str) -> Any:
    if attr == "sku":
        return item.sku
    if attr == "price":
        return item.price
    return (item.attributes or {}).get(attr)


def filter_holds(item: TalonCatalogItem, test: dict[str, Any]) -> bool:
    actual, op, expected = item_value(item, test["attr"]), test["op"], test["value"]
    if op == "EQ":
        return actual == expected or str(actual) == str(expected)
    if op == "IN":
        options = expected if isinstance(expected, list) else str(expected).split(",")
        return str(actual) in [str(o).strip() for o in options]
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        return False
    return {
        "LT": actual < expected,
        "LE": actual <= expected,
        "GT": actual > expected,
        "GE": actual >= expected,
    }[op]


def matching(items: list[TalonCatalogItem], filters: list[dict[str, Any]]) -> list:
    return [item for item in items if all(filter_holds(item, f) for f in filters)]


# --- sync -------------------------------------------------------------------------------------


SKU_LENGTH = length_of(TalonCatalogItem.sku)


def require_catalog(db: Store, tenant_id: str, catalog_id: int) -> TalonCatalog:
    catalog = lookup(db, TalonCatalog, (tenant_id, catalog_id))
    if catalog is None:
        raise TalonOneError(
            404, f"Catalog {catalog_id} not found", title="Not found", parameter="catalogId"
        )
    return catalog


def apply_fields(item: TalonCatalogItem, payload: dict[str, Any], replace: bool) -> None:
    if replace:
        item.price = payload.get("price")
        item.attributes = dict(payload.get("attributes") or {})
        item.product_name = (payload.get("product") or {}).get("name")
        return
    if payload.get("price") is not None:
        item.price = payload["price"]
    if payload.get("attributes") is not None:
        item.attributes = {**(item.attributes or {}), **payload["attributes"]}
    if payload.get("product") is not None:
        item.product_name = payload["product"].get("name")


def sync_catalog(
    db: Store, tenant_id: str, now: datetime, catalog_id: int, body: Any
) -> dict[str, Any]:
    """Apply all actions or none; each successful sync bumps `version` and `modified`."""
    kind, payloads, version = check_actions(body)
    catalog = require_catalog(db, tenant_id, catalog_id)
    if version is not None and version != catalog.version:
        raise invalid(
            "/version", f"version {version} does not match the catalog version {catalog.version}"
        )
    statement = select(TalonCatalogItem).where(
        TalonCatalogItem.tenant_id == tenant_id, TalonCatalogItem.catalog_id == catalog_id
    )
    existing = {item.sku: item for item in db.exec(statement).all()}
    prices_before = {sku: item.price for sku, item in existing.items()}
    for index, payload in enumerate(payloads):
        where = f"/actions/{index}/payload"
        sku = payload.get("sku")
        if kind == "ADD":
            item = existing.get(sku)
            if item is not None and not payload.get("replaceIfExists", False):
                raise invalid(f"{where}/sku", f"Catalog item with SKU {sku!r} already exists")
            if item is None:
                item = new_item(db, tenant_id, catalog_id, sku)
                existing[sku] = item
            apply_fields(item, payload, replace=True)
            db.add(item)
        elif kind in ("PATCH", "ADD_PRICE_ADJUSTMENT"):
            item = existing.get(sku)
            if item is None and not payload.get("createIfNotExists", False):
                raise invalid(f"{where}/sku", f"Catalog item with SKU {sku!r} does not exist")
            if item is None:
                item = new_item(db, tenant_id, catalog_id, sku)
                existing[sku] = item
            if kind == "PATCH":
                apply_fields(item, payload, replace=False)
            db.add(item)
        elif kind == "REMOVE":
            item = existing.pop(sku, None)
            if item is None:
                raise invalid(f"{where}/sku", f"Catalog item with SKU {sku!r} does not exist")
            db.delete(item)
        elif kind == "PATCH_MANY":
            for item in matching(list(existing.values()), payload.get("filters", [])):
                apply_fields(item, {k: v for k, v in payload.items() if k != "filters"}, False)
                db.add(item)
        elif kind == "REMOVE_MANY":
            doomed = matching(list(existing.values()), payload.get("filters", []))
            if doomed:
                db.execute(
                    delete(TalonCatalogItem).where(
                        TalonCatalogItem.tenant_id == tenant_id,
                        TalonCatalogItem.catalog_id == catalog_id,
                        TalonCatalogItem.sku.in_([i.sku for i in doomed]),
                    )
                )
                for item in doomed:
                    existing.pop(item.sku, None)
    best_prior_price.observe_changes(db, tenant_id, now, prices_before, existing)
    catalog.version += 1
    catalog.modified = now
    db.add(catalog)
    db.flush()
    renew_cache_revision(db, tenant_id)
    return catalog_view(db, tenant_id, catalog)


def new_item(db: Store, tenant_id: str, catalog_id: int, sku: str) -> TalonCatalogItem:
    return TalonCatalogItem(
        tenant_id=tenant_id,
        catalog_id=catalog_id,
        sku=sku,
        id=next_value(db, tenant_id, "talonone.catalog_item"),
        attributes={},
    )
