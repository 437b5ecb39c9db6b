"""`type=batch_transactions`: purchases and redemptions for the five campaign types, in one
transaction.

Each line names its campaign, so one batch may mix campaign types. What `amount` means depends
on the campaign type and on `apply_ratio` (the table of the docs, see `line_value`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.clienttoolbox.customers_batch import (
    problems_view,
    raise_nothing_imported,
    raise_rejected,
)
from simulator.clienttoolbox.ledger import Ledger
from simulator.clienttoolbox.parsing import (
    LineError,
    LineProblem,
    amount_of,
    bad_request,
    delimiter_of,
    flag,
    iso_date,
    line_error_mode,
    numbered_headers,
    read_rows,
)
from simulator.clienttoolbox.service import Campaign, campaigns_by_id, undo_wanted
from simulator.core.ids import CounterPlan, DirectCounters
from simulator.core.models import Tenant
from simulator.core.store import Store

HEADER_PREFIX = "visits_header_"
KNOWN_HEADERS = {
    "campaign_id",
    "code",
    "redeemed",
    "amount",
    "date",
    "authorization",
    "promo_id",
    "service_product",
    "none",
}
REQUIRED_HEADERS = ("campaign_id", "code", "redeemed")
CUSTOM_FIELD = re.compile(r"^custom_field_[1-9]\d*$")
LIMITS = {"authorization": 500, "promo_id": 255, "service_product": 255, "code": 64, "amount": 32}


@dataclass
class TransactionsOutcome:
    imported: int = 0
    lines: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    created_customers: int = 0
    undo_state: int | None = None


@dataclass
class Options:
    apply_ratio: bool
    send_email: bool
    create_new: bool
    today: str


def columns_of(fields: Mapping[str, str]) -> tuple[dict[int, str], int]:
    headers = numbered_headers(fields, HEADER_PREFIX)
    columns: dict[int, str] = {}
    for index, name in headers.items():
        if name not in KNOWN_HEADERS and not CUSTOM_FIELD.match(name):
            raise bad_request(
                f"Unknown field name in {HEADER_PREFIX}{index} "
                f"({fields[f'{HEADER_PREFIX}{index}'].strip()})"
            )
        if name != "none":
            columns[index] = name
    names = set(columns.values())
    missing = [n for n in REQUIRED_HEADERS if n not in names]
    if missing:
        raise bad_request(f"Missing header(s): {', '.join(missing)}")
    return columns, max(headers)


def batch_transactions(
    session: Store,
    tenant: Tenant,
    fields: Mapping[str, str],
    now: datetime,
    counters: CounterPlan | DirectCounters | None = None,
) -> tuple[TransactionsOutcome, Ledger]:
    """The batch worked out, nothing written: `Ledger.write` writes it (ClientToolboxError
    for a batch refused whole)."""
    counters = counters or DirectCounters(session)
    delimiter = delimiter_of(fields)
    columns, width = columns_of(fields)
    reject = line_error_mode(fields) == "reject"
    options = Options(
        apply_ratio=flag(fields, "apply_ratio") or False,
        send_email=flag(fields, "send_transaction_email") or False,
        create_new=flag(fields, "create_new_customers") or False,
        today=now.date().isoformat(),
    )
    if "visits_data" not in fields:
        raise bad_request("Missing Visits_Data")
    # The 1.5 docs make undo opt-in (`allow-undo`); the older API recorded one unless `no-undo`.
    with_undo = undo_wanted(fields, default="api" not in fields)

    rows, problems = read_rows(fields["visits_data"], delimiter, columns, width, "Visits_Data")
    outcome = TransactionsOutcome(problems=problems)
    outcome.lines = len(rows) + len(outcome.problems)
    if reject and outcome.problems:
        raise_rejected(outcome.problems)
    if not outcome.lines:
        raise bad_request("No data lines in Visits_Data")

    campaigns = campaigns_by_id(session, tenant, list({r.get("campaign_id", "") for _, r in rows}))
    batch_id = counters.next_value(tenant.id, "ct_batch")
    ledger = Ledger(session, tenant.id, batch_id, now, with_undo, (), counters)
    keys = {r.get("code", "") for _, r in rows}
    ledger.load_customers(keys, keys)
    ledger.load_balances(list(ledger.customers))
    for line, row in rows:
        try:
            apply_line(ledger, campaigns, row, options, outcome)
        except LineError as exc:
            outcome.problems.append(LineProblem(line, str(exc)))
    if outcome.problems:
        outcome.problems.sort(key=lambda p: p.line)
        if reject:
            raise_rejected(outcome.problems)
        if outcome.imported == 0:
            raise_nothing_imported(outcome.problems, "transaction")
    if with_undo:
        ledger.keep_undo_state(
            "batch_transactions",
            outcome.lines,
            {"transactions": outcome.imported, "created_customers": outcome.created_customers},
        )
        outcome.undo_state = batch_id
    return outcome, ledger


def apply_line(
    ledger: Ledger,
    campaigns: Mapping[str, Campaign],
    row: dict[str, str],
    options: Options,
    outcome: TransactionsOutcome,
) -> None:
    """Validate the whole line first, then change the ledger (a bad line changes nothing)."""
    for name, limit in LIMITS.items():
        if len(row.get(name, "")) > limit:
            raise LineError(f"{name} longer than {limit} characters")
    campaign_id = row.get("campaign_id", "")
    if not campaign_id:
        raise LineError("Missing campaign_id")
    campaign = campaigns.get(campaign_id)
    if campaign is None:
        raise LineError(f"Unknown campaign_id {campaign_id}")
    key = row.get("code", "")
    if not key:
        raise LineError("Missing code")
    redeemed = redeemed_of(row.get("redeemed", ""))
    raw_date = row.get("date", "")
    when = iso_date(raw_date) if raw_date else options.today
    item = item_of(campaign, row.get("service_product", ""))
    value = round(
        line_value(campaign, redeemed, row.get("amount", ""), item, options.apply_ratio), 4
    )
    customer = ledger.find(key)
    if customer is None and not options.create_new:
        raise LineError(f"Unknown customer code {key} (create_new_customers=Y creates it)")
    code = customer["code"] if customer is not None else key
    balance_key = (code, campaign.id, item)
    current = ledger.balance(balance_key) or 0.0
    if redeemed and value > current + 1e-9:
        raise LineError(
            f"Insufficient balance: customer {code} has {fmt(current)} in campaign "
            f"{campaign.id}, the redemption needs {fmt(value)}"
        )
    if customer is None:
        customer = ledger.create_customer(key)
        outcome.created_customers += 1
    else:
        ledger.touch(customer)
    ledger.enroll(code, campaign.id)
    ledger.set_balance(balance_key, current - value if redeemed else current + value)
    custom = {n: v for n, v in row.items() if n.startswith("custom_field_")}
    ledger.add_transaction(
        {
            "customer_code": code,
            "campaign_id": campaign.id,
            "redeemed": redeemed,
            "amount": row.get("amount", ""),
            "value": -value if redeemed else value,
            "item": item,
            "date": when,
            "authorization": row.get("authorization", ""),
            "promo_id": row.get("promo_id", ""),
            "send_email": options.send_email,
            "custom_fields": json.dumps(custom, sort_keys=True),
        }
    )
    outcome.imported += 1


def fmt(value: float) -> str:
    rounded = round(value, 2)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.2f}"


def redeemed_of(raw: str) -> bool:
    value = raw.strip().upper()
    if value == "Y":
        return True
    if value == "N":
        return False
    raise LineError(f"Invalid redeemed '{raw}' (expected Y or N)")


def item_of(campaign: Campaign, raw: str) -> str:
    """The buyx product of a line (its description when the campaign lists items)."""
    if campaign.type != "buyx":
        return ""
    if not raw:
        raise LineError(f"Missing service_product for buyx campaign {campaign.id}")
    if not campaign.items:
        return raw
    item = campaign.item(raw)
    if item is None:
        raise LineError(f"Unknown service_product '{raw}' in campaign {campaign.id}")
    return item.description


def line_value(campaign: Campaign, redeemed: bool, raw: str, item: str, ratio: bool) -> float:
    """The (positive) change of the balance a line asks for, in the campaign's unit."""
    kind = campaign.type
    if kind == "points":
        if not redeemed:
            money_or_points = required_amount(raw)
            return money_or_points * points_ratio(campaign) if ratio else money_or_points
        return reward_cost(campaign, raw) if ratio else required_amount(raw)
    if kind == "giftcard":  # apply_ratio does not apply
        return required_amount(raw)
    if kind == "events":
        if not redeemed:
            return amount_or_one(raw)
        return reward_cost(campaign, raw) if ratio else required_amount(raw)
    if kind == "earned":
        if redeemed:
            return required_amount(raw)
        if ratio or not raw:
            return amount_or_one(raw) * earned_per_event(campaign)
        return required_amount(raw)
    # buyx
    if not redeemed:
        return amount_or_one(raw)
    if ratio:
        return required_amount(raw) * buy_x(campaign, item)
    return required_amount(raw)


def required_amount(raw: str) -> float:
    if not raw:
        raise LineError("Missing amount")
    return amount_of(raw)


def amount_or_one(raw: str) -> float:
    return amount_of(raw) if raw else 1.0


def points_ratio(campaign: Campaign) -> float:
    if campaign.row.points_ratio is None:
        raise LineError(f"Campaign {campaign.id} has no points ratio (apply_ratio=yes)")
    return campaign.row.points_ratio


def earned_per_event(campaign: Campaign) -> float:
    if campaign.row.earned_per_event is None:
        raise LineError(f"Campaign {campaign.id} has no earned_per_event")
    return campaign.row.earned_per_event


def buy_x(campaign: Campaign, item: str) -> float:
    found = campaign.item(item)
    count = (found.buy_x if found else None) or campaign.row.buy_x
    if count is None:
        raise LineError(f"Campaign {campaign.id} has no buy_x count for '{item}'")
    return float(count)


def reward_cost(campaign: Campaign, raw: str) -> float:
    if not raw:
        raise LineError("Missing amount (a reward id with apply_ratio=yes)")
    reward = campaign.reward(raw)
    if reward is None:
        raise LineError(f"Unknown reward '{raw}' in campaign {campaign.id}")
    return reward.level


def outcome_view(outcome: TransactionsOutcome) -> dict[str, Any]:
    status = "partially_imported" if outcome.problems else "all_imported"
    batch: dict[str, Any] = {"@status": status, "transactions": outcome.imported}
    if outcome.created_customers:
        batch["new_customers"] = outcome.created_customers
    if outcome.problems:
        batch.update(problems_view(outcome.problems))
    if outcome.undo_state is not None:
        batch["undo_state"] = outcome.undo_state
    return {"batch": batch}
