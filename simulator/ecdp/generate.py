"""Seeded fake volume for the `ecdp` section: customers whose custom attributes and consents are
valid against the section's own definitions, with computed figures (orders, spend, RFM segment).

Counts (in `generate.counts`): `ecdp.customers` (default: `customers`). E-mail, phone and crmId
are unique by a counter and skip any the section already holds; ids follow the largest given one.
"""

from __future__ import annotations

import random
from typing import Any

from simulator.core.generate import (
    EMAIL_DOMAINS,
    FakePools,
    GenerateContext,
    ascii_slug,
    iso_day,
    iso_instant,
    unique_email,
)

RFM_SEGMENTS = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "At Risk",
    "Hibernating",
    "Lost",
)
GENDERS = ("Male", "Female", "NotSpecified")
CONSENT_VALUES = ("True", "True", "False", "AwaitingConfirmation")


def attribute_value(rng: random.Random, attribute: dict[str, Any], pools: FakePools) -> str:
    """A value of the attribute's type, as POST /customers would accept it."""
    kind = attribute.get("type")
    if kind == "SingleSelect" and attribute.get("options"):
        return str(rng.choice(attribute["options"]))
    if kind == "Number":
        return str(rng.randrange(1, 100))
    if kind == "Money":
        return f"{rng.randrange(0, 500_000) / 100:.2f}"
    if kind == "Date":
        return iso_day(rng, 2015, 3650)
    if kind == "DateTime":
        return iso_instant(rng, 2025, 365)
    if kind == "Boolean":
        return rng.choice(("true", "false"))
    if kind == "Url":
        return f"https://www.example.com/{ascii_slug(rng.choice(pools.words), 'page')}"
    if kind == "Text":
        return " ".join(rng.choice(pools.words) for _ in range(rng.randint(4, 12)))
    return rng.choice(pools.words)


def figures(rng: random.Random, currency: str) -> dict[str, Any]:
    """Computed figures that agree with each other (average = total / orders, ...)."""
    orders = rng.choice((0, 0, 1, 2, 3, 5, 8, 13, 21))
    if not orders:
        return {}
    average = rng.randrange(1_000, 30_000) / 100
    result: dict[str, Any] = {
        "totalOrders": orders,
        "totalSpent": round(average * orders, 2),
        "avgOrder": average,
        "avgPricePoint": round(average / rng.randint(1, 4), 2),
        "totalOrderReturns": rng.randrange(orders // 4 + 1),
        "lastOrder": iso_instant(rng, 2025, 365),
        "rfmSegment": rng.choice(RFM_SEGMENTS),
        "currencySymbol": currency,
    }
    if orders > 1:
        result["avgTimeBetweenOrdersInDays"] = round(rng.uniform(3, 120), 1)
    return result


def taken_values(customers: list[dict[str, Any]]) -> dict[str, set[str]]:
    taken: dict[str, set[str]] = {"email": set(), "phone": set(), "crmId": set()}
    for customer in customers:
        if customer.get("email"):
            taken["email"].add(str(customer["email"]).lower())
        if customer.get("phone"):
            taken["phone"].add("".join(str(customer["phone"]).split()))
        if customer.get("crmId"):
            taken["crmId"].add(str(customer["crmId"]))
    return taken


COUNTS = ("ecdp.customers",)


def generate(context: GenerateContext, section: dict[str, Any]) -> dict[str, Any]:
    count = context.count("ecdp.customers", context.customers)
    if count <= 0:
        return section
    customers = list(section.get("customers") or [])
    attributes = [a for a in section.get("attributes") or [] if isinstance(a, dict)]
    consents = [c for c in section.get("consents") or [] if isinstance(c, dict)]
    currency = next((c["currencySymbol"] for c in customers if c.get("currencySymbol")), "€")
    taken = taken_values(customers)
    pools = FakePools.build(context, "ecdp.people")
    rng = context.rng("ecdp.customers")
    number = 0
    for _ in range(count):
        number += 1
        while f"+4860{number:07d}" in taken["phone"] or f"GEN-{number:07d}" in taken["crmId"]:
            number += 1
        first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
        email = unique_email(first, last, number, rng.choice(EMAIL_DOMAINS))
        while email in taken["email"]:
            email = f"x{email}"
        customer: dict[str, Any] = {"email": email, "crmId": f"GEN-{number:07d}"}
        has_phone = rng.random() < 0.8
        if has_phone:
            customer["phone"] = f"+4860{number:07d}"
        customer.update(firstName=first, lastName=last, gender=rng.choice(GENDERS))
        if rng.random() < 0.7:
            customer["dateOfBirth"] = f"{iso_day(rng, 1950, 18_250)}T00:00:00Z"
        chosen = [a for a in attributes if rng.random() < 0.6]
        if chosen:
            customer["customAttributes"] = [
                {"name": a["name"], "value": attribute_value(rng, a, pools)} for a in chosen
            ]
        given = [
            {"id": c["id"], "value": rng.choice(CONSENT_VALUES)}
            for c in consents
            if rng.random() < 0.7 and (has_phone or c.get("type") != "Sms")
        ]
        if given:
            customer["consents"] = given
        customer.update(figures(rng, currency))
        customers.append(customer)
    return {**section, "customers": customers}
