"""`type=customers_batch`: create and update customers from delimited lines, in one transaction.

Matching: a line's `code` finds an existing customer; a line without a code is matched by its
`card_number`. `overwrite_duplicates` decides what a match does (yes / update / ignore).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.clienttoolbox.errors import ClientToolboxError
from simulator.clienttoolbox.ledger import PROFILE_COLUMNS, Ledger, UniqueDigits
from simulator.clienttoolbox.parsing import (
    LineError,
    LineProblem,
    amount_of,
    bad_request,
    delimiter_of,
    id_list,
    line_error_mode,
    numbered_headers,
    read_rows,
    strict_iso_date,
)
from simulator.clienttoolbox.service import (
    Campaign,
    account_of,
    campaigns_by_id,
    custom_fields_of,
    undo_wanted,
)
from simulator.core.ids import CounterPlan, DirectCounters
from simulator.core.models import Tenant
from simulator.core.storable import parse_int
from simulator.core.store import Store

HEADER_PREFIX = "profiles_header_"
OVERWRITE_MODES = ("yes", "update", "ignore")
MAX_VALUE = 255
MAX_KEY = 64
CUSTOM_FIELD = re.compile(r"^custom_field_[1-9]\d*$")
STANDARD_HEADERS = {"code", "card_number", "auto_add", *PROFILE_COLUMNS}
MAX_LISTED_ERRORS = 100


@dataclass
class CustomersOutcome:
    new: int = 0
    updated: int = 0
    skipped: int = 0
    lines: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    generated: list[dict[str, Any]] = field(default_factory=list)
    ignored_headers: list[str] = field(default_factory=list)
    undo_state: int | None = None


def card_digits(fields: Mapping[str, str]) -> int | None:
    raw = (fields.get("card_number_generate") or "").strip()
    if not raw:
        return None
    digits = parse_int(raw)
    if digits is None or not 4 <= digits <= 32:
        raise bad_request(f"Invalid card_number_generate '{raw}' (a number of digits, 4 to 32)")
    return digits


def overwrite_mode(fields: Mapping[str, str]) -> str:
    raw = (fields.get("overwrite_duplicates") or "ignore").strip().lower()
    if raw not in OVERWRITE_MODES:
        raise bad_request(f"Invalid overwrite_duplicates '{raw}' (expected yes, update or ignore)")
    return raw


def included_campaigns(session: Store, tenant: Tenant, fields: Mapping[str, str]) -> list[Campaign]:
    ids = id_list(fields.get("campaigns_to_include") or "")
    if not ids:
        raise bad_request("Missing campaigns_to_include: at least one campaign is required")
    known = campaigns_by_id(session, tenant, ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise bad_request(f"Unknown campaign(s) in campaigns_to_include: {', '.join(unknown)}")
    return [known[i] for i in ids]


def columns_of(
    fields: Mapping[str, str], custom_names: set[str], unknown_policy: str
) -> tuple[dict[int, str], int, list[str]]:
    """(column index -> field name, number of columns, ignored headers).

    An unknown name is an error naming its header, or ignored (the account's setting)."""
    headers = numbered_headers(fields, HEADER_PREFIX)
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for index, name in headers.items():
        if name in STANDARD_HEADERS or name in custom_names:
            columns[index] = name
            continue
        label = f"{HEADER_PREFIX}{index} ({fields[f'{HEADER_PREFIX}{index}'].strip()})"
        if unknown_policy == "ignore":
            ignored.append(label)
            continue
        if CUSTOM_FIELD.match(name):
            raise bad_request(f"Unknown custom field in {label}: see manage_fields action=list")
        raise bad_request(f"Unknown field name in {label}")
    return columns, max(headers), ignored


def customers_batch(
    session: Store,
    tenant: Tenant,
    fields: Mapping[str, str],
    now: datetime,
    seed: int,
    counters: CounterPlan | DirectCounters | None = None,
) -> tuple[CustomersOutcome, Ledger]:
    """The batch worked out, nothing written: `Ledger.write` writes it (ClientToolboxError
    for a batch refused whole)."""
    counters = counters or DirectCounters(session)
    delimiter = delimiter_of(fields)
    mode = overwrite_mode(fields)
    digits = card_digits(fields)
    reject = line_error_mode(fields) == "reject"
    campaigns = included_campaigns(session, tenant, fields)
    account = account_of(session, tenant)
    custom = custom_fields_of(session, tenant)
    columns, width, ignored = columns_of(fields, set(custom), account.unknown_fields)
    if "profiles_data" not in fields:
        raise bad_request("Missing profiles_data")
    with_undo = undo_wanted(fields, default=True)

    rows, problems = read_rows(fields["profiles_data"], delimiter, columns, width, "profiles_data")
    outcome = CustomersOutcome(ignored_headers=ignored, problems=problems)
    outcome.lines = len(rows) + len(outcome.problems)
    if reject and outcome.problems:
        raise_rejected(outcome.problems)
    if not outcome.lines:
        raise bad_request("No data lines in profiles_data")

    batch_id = counters.next_value(tenant.id, "ct_batch")
    written = None if mode == "yes" else {*columns.values(), "custom_fields", "card_number"}
    ledger = Ledger(session, tenant.id, batch_id, now, with_undo, written, counters)
    ledger.load_customers(
        (r.get("code", "") for _, r in rows), (r.get("card_number", "") for _, r in rows)
    )
    ledger.load_balances(list(ledger.customers))
    # Generated values avoid the store, this batch's rows so far, and every value given below.
    given_codes = {r["code"] for _, r in rows if r.get("code")}
    given_cards = {r["card_number"] for _, r in rows if r.get("card_number")}
    codes = UniqueDigits(
        ledger, seed, "ct_customer_code", 16, "code", ledger.customers, given_codes
    )
    cards = (
        UniqueDigits(
            ledger,
            seed,
            f"ct_card_number_{digits}",
            digits,
            "card_number",
            ledger.by_card,
            given_cards,
        )
        if digits
        else None
    )
    first = campaigns[0]
    choices = {n: c for n, f in custom.items() if (c := json.loads(f.choices))}
    for line, row in rows:
        try:
            apply_line(ledger, row, mode, choices, campaigns, first, codes, cards, outcome, line)
        except LineError as exc:
            outcome.problems.append(LineProblem(line, str(exc)))
    if outcome.problems:
        outcome.problems.sort(key=lambda p: p.line)
        if reject:
            raise_rejected(outcome.problems)
    if outcome.new + outcome.updated == 0 and outcome.problems:
        raise_nothing_imported(outcome.problems, "customer")
    if with_undo and (outcome.new or outcome.updated):
        ledger.keep_undo_state(
            "customers_batch",
            outcome.lines,
            {"new": outcome.new, "updated": outcome.updated, "skipped": outcome.skipped},
        )
        outcome.undo_state = batch_id
    return outcome, ledger


def check_values(row: dict[str, str], choices: Mapping[str, list[str]]) -> None:
    """Lengths, custom_date, and the choices of List custom fields."""
    for name, value in row.items():
        limit = MAX_KEY if name in ("code", "card_number") else MAX_VALUE
        if len(value) > limit:
            raise LineError(f"{name} longer than {limit} characters")
        if not value:
            continue
        if name == "custom_date":
            row[name] = strict_iso_date(value, "custom_date")
        elif name in choices:
            allowed = choices[name]
            if value.lower() not in {c.lower() for c in allowed}:
                raise LineError(f"Invalid {name} '{value}' (one of: {', '.join(allowed)})")


def apply_line(
    ledger: Ledger,
    row: dict[str, str],
    mode: str,
    choices: Mapping[str, list[str]],
    campaigns: list[Campaign],
    first: Campaign,
    codes: UniqueDigits,
    cards: UniqueDigits | None,
    outcome: CustomersOutcome,
    line: int,
) -> None:
    check_values(row, choices)
    code = row.get("code", "")
    card = row.get("card_number", "")
    existing = ledger.by_code(code) if code else (ledger.by_card_number(card) if card else None)
    if card:
        owner = ledger.by_card_number(card)
        if owner is not None and owner is not existing:
            raise LineError(f"card_number {card} already belongs to customer {owner['code']}")
    bonus = auto_add_of(row.get("auto_add", ""), first)
    if existing is not None and mode == "ignore":
        outcome.skipped += 1
        return
    generated: dict[str, Any] = {}
    if existing is None:
        if not code:
            code = codes.take()
            generated["code"] = code
        customer = ledger.create_customer(code)
        outcome.new += 1
    else:
        customer = existing
        ledger.touch(customer)
        outcome.updated += 1
        if mode == "yes":
            for name in PROFILE_COLUMNS:
                customer[name] = ""
            customer["custom_fields"] = "{}"
    write_fields(ledger, customer, row)
    if cards is not None and not customer["card_number"]:
        new_card = cards.take()
        ledger.set_card(customer, new_card)
        generated["card_number"] = new_card
    if generated:
        outcome.generated.append({"line": line, "code": customer["code"], **generated})
    for campaign in campaigns:
        ledger.enroll(customer["code"], campaign.id)
    if bonus is not None:
        credit_auto_add(ledger, customer["code"], first, bonus, row["auto_add"])


def write_fields(ledger: Ledger, customer: dict[str, Any], row: dict[str, str]) -> None:
    custom_values: dict[str, str] | None = None
    for name, value in row.items():
        if name in ("code", "auto_add"):
            continue
        if name == "card_number":
            if value:
                ledger.set_card(customer, value)
        elif name.startswith("custom_field_"):
            if custom_values is None:
                custom_values = json.loads(customer["custom_fields"])
            custom_values[name] = value
        else:
            customer[name] = value
    if custom_values is not None:
        customer["custom_fields"] = json.dumps(custom_values, sort_keys=True)


def auto_add_of(raw: str, campaign: Campaign) -> tuple[float, str] | None:
    """(amount, item) to credit to the first campaign, in that campaign's unit."""
    value = raw.strip()
    if not value:
        return None
    if campaign.type == "buyx":
        item = campaign.item(value)
        if campaign.items and item is None:
            raise LineError(f"auto_add: unknown product '{value}' in campaign {campaign.id}")
        return 1.0, item.description if item else value
    return amount_of(value, "auto_add"), ""


def credit_auto_add(
    ledger: Ledger, code: str, campaign: Campaign, bonus: tuple[float, str], raw: str
) -> None:
    amount, item = bonus
    key = (code, campaign.id, item)
    ledger.set_balance(key, (ledger.balance(key) or 0.0) + amount)
    ledger.add_transaction(
        {
            "customer_code": code,
            "campaign_id": campaign.id,
            "redeemed": False,
            "amount": raw,
            "value": amount,
            "item": item,
            "date": ledger.now.date().isoformat(),
            "authorization": "auto_add",
            "promo_id": "",
            "send_email": False,
            "custom_fields": "{}",
        }
    )


def problems_view(problems: list[LineProblem]) -> dict[str, Any]:
    return {
        "error_count": len(problems),
        "errors": {"error": [p.render() for p in problems[:MAX_LISTED_ERRORS]]},
    }


def raise_rejected(problems: list[LineProblem]) -> None:
    raise ClientToolboxError(
        400,
        f"Batch rejected: {len(problems)} line(s) with errors, nothing imported "
        f"(first: line {problems[0].line}: {problems[0].message})",
        details=problems_view(problems),
    )


def raise_nothing_imported(problems: list[LineProblem], what: str) -> None:
    raise ClientToolboxError(
        400,
        f"No {what} imported: every line has an error "
        f"(first: line {problems[0].line}: {problems[0].message})",
        details=problems_view(problems),
    )


def outcome_view(outcome: CustomersOutcome) -> dict[str, Any]:
    status = "partially_imported" if outcome.problems else "imported"
    customers: dict[str, Any] = {
        "new": outcome.new,
        "updated": outcome.updated,
        "skipped": outcome.skipped,
    }
    batch: dict[str, Any] = {"@status": status, "customers": customers}
    if outcome.generated:
        batch["generated"] = {"customer": outcome.generated}
    if outcome.problems:
        batch.update(problems_view(outcome.problems))
    if outcome.ignored_headers:
        batch["ignored_headers"] = {"header": outcome.ignored_headers}
    if outcome.undo_state is not None:
        batch["undo_state"] = outcome.undo_state
    return {"batch": batch}
