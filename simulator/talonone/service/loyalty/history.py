"""GetLoyaltyPoints / GetLoyaltyProgramProfileTransactions / GetLoyaltyCardTransactions: the
paged lists of lots and transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from simulator.core.clock import format_instant
from simulator.core.formats import number
from simulator.core.store import Store
from simulator.talonone.models.loyalty import TalonLoyaltyLot, TalonLoyaltyTransaction
from simulator.talonone.service.loyalty_ledger import (
    EPSILON,
    Owner,
    active_condition,
    expired_condition,
    pending_condition,
)

DEFAULT_PAGE_SIZE = 50


@dataclass
class Page:
    size: int = DEFAULT_PAGE_SIZE
    skip: int = 0


def paged(db: Store, statement: Any, page: Page) -> tuple[list[Any], bool]:
    rows = list(db.scalars(statement.offset(page.skip).limit(page.size + 1)))
    return rows[: page.size], len(rows) > page.size


def points_list(
    db: Store,
    tenant_id: str,
    owner: Owner,
    now: datetime,
    *,
    status: str = "active",
    subledgers: list[str] | None = None,
    session_ids: list[str] | None = None,
    transaction_uuids: list[str] | None = None,
    sort: str | None = None,
    page: Page,
) -> dict[str, Any]:
    """Unused remainders of additions with the given status at `now`."""
    lot = TalonLoyaltyLot
    condition = {
        "active": active_condition(now),
        "pending": pending_condition(now),
        "expired": expired_condition(now),
    }[status]
    statement = select(lot).where(
        lot.tenant_id == tenant_id, *owner.where(lot), lot.remaining > EPSILON, condition
    )
    if subledgers:
        statement = statement.where(lot.subledger_id.in_(subledgers))
    if session_ids:
        statement = statement.where(lot.session_id.in_(session_ids))
    if transaction_uuids:
        statement = statement.where(lot.transaction_uuid.in_(transaction_uuids))
    descending = bool(sort and sort.startswith("-"))
    key = (sort or "").lstrip("-")
    if key == "startDate":
        column = func.coalesce(lot.start_at, lot.created)
        statement = statement.order_by(column.desc() if descending else column, lot.id)
    elif key == "expiryDate":
        statement = statement.order_by(
            lot.expiry_ts.desc() if descending else lot.expiry_ts, lot.id
        )
    else:
        statement = statement.order_by(lot.id)
    rows, has_more = paged(db, statement, page)
    data = []
    for row in rows:
        entry: dict[str, Any] = {
            "id": row.id,
            "transactionUUID": row.transaction_uuid,
            "created": format_instant(row.created),
            "programId": row.program_id,
            "name": row.name,
            "startDate": row.start_text,
            "expiryDate": row.expiry_text,
            "subledgerId": row.subledger_id,
            "amount": number(row.remaining),
        }
        if row.session_id:
            entry["customerSessionId"] = row.session_id
        if row.validity_duration:
            entry["validityDuration"] = row.validity_duration
        data.append(entry)
    return {"hasMore": has_more, "data": data}


def transactions_list(
    db: Store,
    tenant_id: str,
    owner: Owner,
    now: datetime,
    *,
    subledgers: list[str] | None = None,
    kind: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    session_ids: list[str] | None = None,
    transaction_uuids: list[str] | None = None,
    awaits_activation: bool = False,
    page: Page,
) -> dict[str, Any]:
    """Transactions, newest first (so no filter gives the last 50)."""
    tx = TalonLoyaltyTransaction
    statement = select(tx).where(tx.tenant_id == tenant_id, *owner.where(tx))
    if subledgers:
        statement = statement.where(tx.subledger_id.in_(subledgers))
    if kind:
        statement = statement.where(tx.kind == kind)
    if start_date is not None:
        statement = statement.where(tx.created >= start_date)
    if end_date is not None:
        statement = statement.where(tx.created <= end_date)
    if session_ids:
        statement = statement.where(tx.session_id.in_(session_ids))
    if transaction_uuids:
        statement = statement.where(tx.uuid.in_(transaction_uuids))
    if awaits_activation:
        waiting = select(TalonLoyaltyLot.transaction_id).where(
            TalonLoyaltyLot.tenant_id == tenant_id,
            *owner.where(TalonLoyaltyLot),
            TalonLoyaltyLot.on_action.is_(True),
            TalonLoyaltyLot.remaining > EPSILON,
        )
        statement = statement.where(tx.id.in_(waiting))
    rows, has_more = paged(db, statement.order_by(tx.id.desc()), page)
    data = []
    for row in rows:
        entry: dict[str, Any] = {
            "id": row.id,
            "transactionUUID": row.uuid,
            "created": format_instant(row.created),
            "programId": row.program_id,
            "type": row.type,
            "name": row.name,
            "startDate": row.start_text,
            "expiryDate": row.expiry_text,
            "subledgerId": row.subledger_id,
            "amount": number(row.amount),
        }
        if owner.card_identifier:
            entry["cardIdentifier"] = row.card_identifier
        else:
            entry["flags"] = {"createsNegativeBalance": row.creates_negative}
        if row.session_id:
            entry["customerSessionId"] = row.session_id
        if row.ruleset_id is not None:
            entry["rulesetId"] = row.ruleset_id
        if row.rule_name:
            entry["ruleName"] = row.rule_name
        if row.validity_duration:
            entry["validityDuration"] = row.validity_duration
        data.append(entry)
    return {"hasMore": has_more, "data": data}
