"""Applying a validated POST /customers batch: matched against stored customers, written in one
transaction with bulk statements (the caller commits).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from simulator.core import fastsql
from simulator.core.ids import next_value, seeded_rng
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.ecdp.models import EcdpConfirmation, EcdpCustomer
from simulator.ecdp.service.definitions import Definitions, load_definitions
from simulator.ecdp.service.parsing import (
    IDENTIFIERS,
    MATCH_FIELD,
    CustomerInput,
    Problems,
    child,
    parse_batch,
    parse_items,
)

CUSTOMERS = EcdpCustomer.__table__
CONFIRMATIONS = EcdpConfirmation.__table__


@dataclass
class UpsertResult:
    added: list[int]
    updated: list[int]
    confirmations: int


def key_of(column: str, value: str | None) -> str | None:
    """The normalised form an identifier is indexed and matched by."""
    if value is None:
        return None
    if column in ("email", "email_key", "guid"):
        return value.lower()
    if column in ("phone", "phone_key"):
        return "".join(value.split())
    return value


MATCH_KEY_COLUMN = {
    "email": "email_key",
    "phone": "phone_key",
    "crmId": "crm_id",
    "guid": "guid",
    "visitorId": "visitor_id",
}


# Normalised key column -> the column its value is derived from.
KEY_SOURCE = {"email_key": "email", "phone_key": "phone"}

# The batch's statements, built once and run on the DBAPI cursor (core/fastsql): through the
# ORM Session each cost several times what SQLite needs for it.
RELATED_BY = {
    column: fastsql.prepared(
        select(CUSTOMERS).where(
            CUSTOMERS.c.tenant_id == bindparam("tenant_id"),
            CUSTOMERS.c[column].in_(bindparam("keys", expanding=True)),
        )
    )
    for column in IDENTIFIERS
}
INSERT_CUSTOMERS = fastsql.prepared(insert(CUSTOMERS))
INSERT_CONFIRMATIONS = fastsql.prepared(insert(CONFIRMATIONS))


def fetch_related(
    session: Store, tenant_id: str, inputs: list[CustomerInput]
) -> dict[int, dict[str, Any]]:
    """Every stored customer that one of the batch's identifiers points at, by pk."""
    values: dict[str, set[str]] = {column: set() for column in IDENTIFIERS}
    for parsed in inputs:
        for column in IDENTIFIERS:
            raw = parsed.columns.get(KEY_SOURCE.get(column, column))
            if raw:
                values[column].add(key_of(column, raw))
    found: dict[int, dict[str, Any]] = {}
    for column, wanted in values.items():
        ordered = sorted(wanted)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            parameters = {"tenant_id": tenant_id, "keys": chunk}
            rows = fastsql.execute(session, RELATED_BY[column], parameters).mappings()
            for row in rows:
                if row["pk"] not in found:
                    found[row["pk"]] = decode_row(row)
    return found


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    customer = row
    customer["attributes"] = json.loads(customer["attributes"])
    customer["consents"] = {int(k): v for k, v in json.loads(customer["consents"]).items()}
    return customer


class BatchState:
    """The customers a batch touches, with in-memory identifier indexes kept up to date."""

    def __init__(self, customers: dict[int, dict[str, Any]]) -> None:
        self.customers = customers
        self.index: dict[str, dict[str, int]] = {column: {} for column in IDENTIFIERS}
        for pk, customer in customers.items():
            self.track(pk, customer)
        self.next_temporary = -1
        self.touched: set[int] = set()
        self.stored_keys = {pk: keys_of(customer) for pk, customer in customers.items()}

    def track(self, pk: int, customer: dict[str, Any]) -> None:
        for column in IDENTIFIERS:
            if customer.get(column):
                self.index[column][customer[column]] = pk

    def untrack(self, customer: dict[str, Any]) -> None:
        for column in IDENTIFIERS:
            if customer.get(column):
                self.index[column].pop(customer[column], None)

    def find(self, column: str, key: str) -> int | None:
        return self.index[column].get(key)


def blank_customer(tenant_id: str, now: datetime) -> dict[str, Any]:
    return {
        "pk": None,
        "tenant_id": tenant_id,
        "id": None,
        "guid": None,
        "email": None,
        "email_key": None,
        "phone": None,
        "phone_key": None,
        "crm_id": None,
        "visitor_id": None,
        "first_name": None,
        "last_name": None,
        "date_of_birth": None,
        "gender": None,
        "attributes": {},
        "consents": {},
        "rfm_segment": None,
        "total_spent": 0.0,
        "total_orders": 0,
        "total_order_returns": 0,
        "avg_order": 0.0,
        "avg_price_point": 0.0,
        "last_order": None,
        "avg_time_between_orders_in_days": 0.0,
        "currency_symbol": None,
        "created_at": now,
        "updated_at": now,
    }


def upsert_customers(
    session: Store, tenant: Tenant, body: Any, now: datetime, seed: int
) -> UpsertResult:
    """Validate the whole batch, then write it in one transaction (nothing on any error)."""
    definitions = load_definitions(session, tenant.id)
    batch = parse_batch(body, definitions)
    inputs = parse_items(batch, definitions)
    state = BatchState(fetch_related(session, tenant.id, inputs))
    problems = Problems()
    confirmations: list[dict[str, Any]] = []
    match_field = MATCH_FIELD[batch.match_by]
    match_column = MATCH_KEY_COLUMN[match_field]
    added: list[int] = []
    for parsed in inputs:
        path = f"data[{parsed.index}]"
        key = key_of(match_column, parsed.match_value)
        pk = state.find(match_column, key)
        if pk is not None and batch.mode == "Add":
            problems.add(
                child(path, match_field),
                f"A customer with {match_field} '{parsed.match_value}' already exists.",
            )
            continue
        if pk is None and batch.mode == "Update":
            problems.add(
                child(path, match_field),
                f"No customer with {match_field} '{parsed.match_value}' exists.",
            )
            continue
        if pk is None and match_field == "guid":
            problems.add(
                child(path, "guid"),
                f"No customer with guid '{parsed.match_value}' exists (ECDP assigns GUIDs).",
            )
            continue
        current = state.customers[pk] if pk is not None else blank_customer(tenant.id, now)
        updated = apply_input(current, parsed, definitions, now)
        if not check_identifiers(state, pk, updated, path, problems):
            continue
        if pk is None:
            pk = state.next_temporary
            state.next_temporary -= 1
            added.append(pk)
        else:
            state.untrack(current)
        state.customers[pk] = updated
        state.track(pk, updated)
        state.touched.add(pk)
        awaiting = [
            cid
            for cid, value in parsed.consents.items()
            if value == "AwaitingConfirmation"
            and (parsed.force or current["consents"].get(cid) != "AwaitingConfirmation")
        ]
        if awaiting:
            confirmations.append(
                {
                    "pk": pk,
                    "consent_ids": awaiting,
                    "confirmation_message_id": parsed.confirmation_message_id,
                    "forced": parsed.force,
                }
            )
    problems.raise_if_any()
    return write_batch(session, tenant.id, state, added, confirmations, now, seed)


def apply_input(
    current: dict[str, Any], parsed: CustomerInput, definitions: Definitions, now: datetime
) -> dict[str, Any]:
    """A copy of `current` with the item's fields, attributes and consents applied."""
    updated = dict(current)
    for column, value in parsed.columns.items():
        if column == "guid":
            continue
        updated[column] = value
    updated["email_key"] = key_of("email", updated["email"])
    updated["phone_key"] = key_of("phone", updated["phone"])
    if parsed.attributes:
        attributes = {**current["attributes"], **parsed.attributes}
        order = definitions.attribute_order
        updated["attributes"] = {
            name: attributes[name]
            for name in sorted(attributes, key=lambda n: order.get(n, 0))
            if attributes[name] is not None
        }
    if parsed.consents:
        consents = {**current["consents"], **parsed.consents}
        updated["consents"] = {cid: consents[cid] for cid in sorted(consents)}
    updated["updated_at"] = now
    return updated


def check_identifiers(
    state: BatchState, pk: int | None, customer: dict[str, Any], path: str, problems: Problems
) -> bool:
    """Email, phone, CRM ID and visitor id belong to one customer only."""
    ok = True
    for column in ("email_key", "phone_key", "crm_id", "visitor_id"):
        value = customer.get(column)
        if not value:
            continue
        owner = state.find(column, value)
        if owner is not None and owner != pk:
            name = IDENTIFIERS[column]
            problems.add(
                child(path, name),
                f"{name} '{value}' already belongs to another customer.",
            )
            ok = False
    return ok


def customer_guid(seed: int, tenant_id: str, customer_id: int) -> str:
    bits = seeded_rng(seed, tenant_id, "ecdp-guid", customer_id).getrandbits(128)
    return str(uuid.UUID(int=bits, version=4))


def encode_row(customer: dict[str, Any]) -> dict[str, Any]:
    row = dict(customer)
    row["attributes"] = json.dumps(customer["attributes"], ensure_ascii=False)
    row["consents"] = json.dumps({str(k): v for k, v in customer["consents"].items()})
    return row


UPDATABLE = [
    c.name
    for c in CUSTOMERS.columns
    if c.name not in ("pk", "tenant_id", "id", "guid", "created_at")
]
# The columns of the customer's unique indexes: an UPDATE naming one rewrites that index's
# entry even when the value is the same (10 customers at 100,000 stored: 4.3 ms against 0.8 ms).
KEYED = ("email_key", "phone_key", "crm_id", "visitor_id")
UNKEYED = [name for name in UPDATABLE if name not in KEYED]


def update_statement(columns: list[str]) -> fastsql.Prepared:
    """UPDATE of `columns` by pk, its parameters `b_<column>` (executemany, one set a row)."""
    return fastsql.prepared(
        update(CUSTOMERS)
        .where(CUSTOMERS.c.pk == bindparam("b_pk"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )


UPDATE_ALL, UPDATE_UNKEYED = update_statement(UPDATABLE), update_statement(UNKEYED)


def keys_of(customer: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(customer.get(name) for name in KEYED)


def write_batch(
    session: Store,
    tenant_id: str,
    state: BatchState,
    added: list[int],
    confirmations: list[dict[str, Any]],
    now: datetime,
    seed: int,
) -> UpsertResult:
    ids_by_pk: dict[int, int] = {}
    if added:
        last = next_value(session, tenant_id, "ecdp.customer", len(added))
        rows = []
        for offset, temporary in enumerate(added):
            customer = state.customers[temporary]
            customer["id"] = last - len(added) + 1 + offset
            customer["guid"] = customer_guid(seed, tenant_id, customer["id"])
            ids_by_pk[temporary] = customer["id"]
            row = encode_row(customer)
            row.pop("pk")
            rows.append(row)
        fastsql.execute(session, INSERT_CUSTOMERS, rows)
    changed = [pk for pk in state.touched if pk > 0]
    for columns, statement in ((UPDATABLE, UPDATE_ALL), (UNKEYED, UPDATE_UNKEYED)):
        rekeyed = columns is UPDATABLE  # identifiers changed, then the others
        pks = [
            pk
            for pk in changed
            if (keys_of(state.customers[pk]) != state.stored_keys.get(pk)) == rekeyed
        ]
        if not pks:
            continue
        params = []
        for pk in pks:
            row = encode_row(state.customers[pk])
            params.append({"b_pk": pk, **{f"b_{name}": row[name] for name in columns}})
            ids_by_pk[pk] = state.customers[pk]["id"]
        fastsql.execute(session, statement, params)
    if confirmations:
        last = next_value(session, tenant_id, "ecdp.confirmation", len(confirmations))
        rows = []
        for offset, sent in enumerate(confirmations):
            customer = state.customers[sent["pk"]]
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "id": last - len(confirmations) + 1 + offset,
                    "customer_id": customer["id"],
                    "email": customer["email"],
                    "phone": customer["phone"],
                    "consent_ids": json.dumps(sent["consent_ids"]),
                    "confirmation_message_id": sent["confirmation_message_id"],
                    "forced": sent["forced"],
                    "confirmed": False,
                    "sent_at": now,
                }
            )
        fastsql.execute(session, INSERT_CONFIRMATIONS, rows)
    return UpsertResult(
        added=[ids_by_pk[pk] for pk in added],
        updated=sorted(ids_by_pk[pk] for pk in changed),
        confirmations=len(confirmations),
    )
