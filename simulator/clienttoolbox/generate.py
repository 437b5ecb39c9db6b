"""Seeded fake volume for the `clienttoolbox` section: customers with balances in the section's
campaigns, and one earning transaction per balance that explains it.

Counts (in `generate.counts`): `clienttoolbox.customers` (default: `customers`) and
`clienttoolbox.balances` (at most this many campaigns per customer, default 2). Codes and card
numbers come from counters and skip any the section already holds; custom fields get values only
where the section declares them (List fields one of their choices).
"""

from __future__ import annotations

import random
from typing import Any

from simulator.core.generate import (
    EMAIL_DOMAINS,
    FakePools,
    GenerateContext,
    iso_day,
    unique_email,
)

CODE_START = 500_000_000  # 9-digit customer codes
CARD_PREFIX = "7700"  # 16-digit card numbers: prefix + 12-digit counter


def text(value: Any) -> str:
    return "" if value is None else str(value)


def balance_lines(rng: random.Random, campaign: dict[str, Any]) -> list[dict[str, Any]]:
    """A plausible balance for one campaign, by its type."""
    campaign_id = text(campaign.get("id"))
    kind = campaign.get("type")
    if kind == "buyx":
        lines: list[dict[str, Any]] = [{"campaign": campaign_id, "balance": 0}]
        default_x = int(campaign.get("buy_x") or 10)
        for item in campaign.get("items") or []:
            buy_x = int(item.get("buy_x") or default_x)
            lines.append(
                {
                    "campaign": campaign_id,
                    "item": text(item.get("description")),
                    "balance": rng.randrange(buy_x),
                }
            )
        return lines
    if kind == "events":
        return [{"campaign": campaign_id, "balance": rng.randrange(25)}]
    if kind in ("giftcard", "earned"):
        return [{"campaign": campaign_id, "balance": round(rng.uniform(5, 250), 2)}]
    return [{"campaign": campaign_id, "balance": rng.randrange(0, 3000, 5)}]


def earning(
    rng: random.Random, code: str, line: dict[str, Any], campaign: dict[str, Any]
) -> dict[str, Any] | None:
    """The transaction that brought a balance line where it is (none for item lines or zero)."""
    if line.get("item") or not line["balance"]:
        return None
    entry: dict[str, Any] = {
        "campaign": line["campaign"],
        "code": code,
        "value": line["balance"],
        "date": iso_day(rng, 2025, 365),
    }
    ratio = campaign.get("points_ratio")
    if campaign.get("type") == "points" and ratio:
        entry["amount"] = f"{line['balance'] / float(ratio):.2f}"
    return entry


def custom_values(
    rng: random.Random, fields: list[dict[str, Any]], pools: FakePools
) -> dict[str, str]:
    values = {}
    for field in fields:
        if not field.get("show", True) or rng.random() < 0.3:
            continue
        kind = field.get("type", "Text")
        if kind == "List" and field.get("choices"):
            values[field["name"]] = rng.choice(field["choices"])
        elif kind == "Date":
            values[field["name"]] = iso_day(rng, 2020, 2000)
        elif kind == "Number":
            values[field["name"]] = str(rng.randrange(1, 100))
        elif kind == "Text":
            values[field["name"]] = rng.choice(pools.cities)
    return values


COUNTS = ("clienttoolbox.customers", "clienttoolbox.balances")


def generate(context: GenerateContext, section: dict[str, Any]) -> dict[str, Any]:
    count = context.count("clienttoolbox.customers", context.customers)
    if not section.get("campaigns"):
        context.unmet(
            "clienttoolbox.balances",
            "no campaign to hold balances: declare one in the clienttoolbox section, or start "
            "from a set that has one (extends: default; fixtures generate --extends default)",
        )
    elif count <= 0:
        context.unmet(
            "clienttoolbox.balances",
            "made for generated customers, and none are generated "
            "(customers or clienttoolbox.customers)",
        )
    if count <= 0:
        return section
    most_balances = max(0, context.count("clienttoolbox.balances", 2))
    customers = list(section.get("customers") or [])
    transactions = list(section.get("transactions") or [])
    campaigns = [c for c in section.get("campaigns") or [] if isinstance(c, dict)]
    fields = [f for f in section.get("custom_fields") or [] if isinstance(f, dict)]
    taken_codes = {text(c.get("code")) for c in customers}
    taken_cards = {text(c.get("card_number")) for c in customers if c.get("card_number")}
    pools = FakePools.build(context, "clienttoolbox.people")
    rng = context.rng("clienttoolbox.customers")
    code_number, card_number = CODE_START, 0
    for _ in range(count):
        while str(code_number) in taken_codes:
            code_number += 1
        code = str(code_number)
        code_number += 1
        card = ""
        while not card or card in taken_cards:
            card_number += 1
            card = f"{CARD_PREFIX}{card_number:012d}"
        first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
        customer: dict[str, Any] = {
            "code": code,
            "card_number": card,
            "first_name": first,
            "last_name": last,
            "email": unique_email(first, last, code_number, rng.choice(EMAIL_DOMAINS)),
            "phone": f"555{rng.randrange(10**7):07d}",
            "street1": rng.choice(pools.streets),
            "city": rng.choice(pools.cities),
            "postal_code": rng.choice(pools.postcodes),
        }
        custom = custom_values(rng, fields, pools)
        if custom:
            customer["custom_fields"] = custom
        balances: list[dict[str, Any]] = []
        if campaigns and most_balances:
            chosen = rng.sample(campaigns, min(len(campaigns), rng.randint(1, most_balances)))
            for campaign in chosen:
                for line in balance_lines(rng, campaign):
                    balances.append(line)
                    transaction = earning(rng, code, line, campaign)
                    if transaction is not None:
                        transactions.append(transaction)
        customer["balances"] = balances
        customers.append(customer)
    return {**section, "customers": customers, "transactions": transactions}
