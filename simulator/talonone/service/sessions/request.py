"""The body of UpdateCustomerSessionV2 checked against the API's schema and the tenant's attribute
definitions (docs/behaviour.md, Talon.One).
"""

from __future__ import annotations

from typing import Any

from simulator.core.storable import MAX_AMOUNT
from simulator.talonone.models.core import TalonConfig
from simulator.talonone.parsing import (
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
from simulator.talonone.service import campaigns

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
