"""GetLoyaltyPoints / GetLoyaltyProgramProfileTransactions / GetLoyaltyCardTransactions: the
paged lists of lots and transactions.

Each list is a prepared statement (core/fastsql) built once per shape of the request (which
filters it names, the sort), its values bound: it runs on a read lease as on a Session
(`autoflush`: what a request wrote through the ORM is listed too).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.formats import number
from simulator.core.store import Store
from simulator.talonone.models.loyalty import TalonLoyaltyLot, TalonLoyaltyTransaction
from simulator.talonone.service.loyalty_ledger import (
    EPSILON,
    Owner,
    epoch,
    owned_by,
    status_condition,
)

DEFAULT_PAGE_SIZE = 50


@dataclass
class Page:
    size: int = DEFAULT_PAGE_SIZE
    skip: int = 0


LOTS = TalonLoyaltyLot.__table__.c
TRANSACTIONS = TalonLoyaltyTransaction.__table__.c


def paged(
    db: Store | fastsql.Lease, statement: fastsql.Prepared, parameters: dict[str, Any], page: Page
) -> tuple[list[Any], bool]:
    """A page of the statement's rows (bound `skip` and `limit`), and whether more follow."""
    bound = {**parameters, "skip": page.skip, "limit": page.size + 1}
    rows = fastsql.execute(db, statement, bound).all()
    return rows[: page.size], len(rows) > page.size


def in_list(statement: Any, column: Any, name: str, named: frozenset[str]) -> Any:
    """`statement`, keeping only rows whose `column` is in the bound list `name` if named."""
    if name not in named:
        return statement
    return statement.where(column.in_(bindparam(name, expanding=True)))


@functools.cache
def points_statement(status: str, named: frozenset[str], sort: str) -> fastsql.Prepared:
    """An owner's unused lots of `status` at the bound instant `at`, filtered by the lists
    `named` (subledgers, session_ids, transaction_uuids), in the order of `sort`."""
    statement = select(TalonLoyaltyLot.__table__).where(
        *owned_by(LOTS), LOTS.remaining > EPSILON, status_condition(LOTS, status, bindparam("at"))
    )
    statement = in_list(statement, LOTS.subledger_id, "subledgers", named)
    statement = in_list(statement, LOTS.session_id, "session_ids", named)
    statement = in_list(statement, LOTS.transaction_uuid, "transaction_uuids", named)
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key == "startDate":
        column = func.coalesce(LOTS.start_at, LOTS.created)
        statement = statement.order_by(column.desc() if descending else column, LOTS.id)
    elif key == "expiryDate":
        column = LOTS.expiry_ts
        statement = statement.order_by(column.desc() if descending else column, LOTS.id)
    else:
        # read off ix_talonone_loyalty_lot_owner_id: a page stops after `limit` rows
        statement = statement.order_by(LOTS.id)
    paging = statement.offset(bindparam("skip")).limit(bindparam("limit"))
    return fastsql.prepared(paging, autoflush=True)


def points_list(
    db: Store | fastsql.Lease,
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
    lists = {
        "subledgers": subledgers,
        "session_ids": session_ids,
        "transaction_uuids": transaction_uuids,
    }
    named = {name: values for name, values in lists.items() if values}
    statement = points_statement(status, frozenset(named), sort or "")
    parameters = {**owner.parameters(tenant_id), "at": epoch(now), **named}
    rows, has_more = paged(db, statement, parameters, page)
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


@functools.cache
def transactions_statement(named: frozenset[str], awaits_activation: bool) -> fastsql.Prepared:
    """An owner's transactions, newest first, filtered by what is `named` (the lists
    subledgers, session_ids, transaction_uuids; `kind`; the instants `start` and `end`), and
    only those whose lots await activation if asked."""
    statement = select(TalonLoyaltyTransaction.__table__).where(*owned_by(TRANSACTIONS))
    statement = in_list(statement, TRANSACTIONS.subledger_id, "subledgers", named)
    statement = in_list(statement, TRANSACTIONS.session_id, "session_ids", named)
    statement = in_list(statement, TRANSACTIONS.uuid, "transaction_uuids", named)
    if "kind" in named:
        statement = statement.where(TRANSACTIONS.kind == bindparam("kind"))
    if "start" in named:
        statement = statement.where(TRANSACTIONS.created >= bindparam("start"))
    if "end" in named:
        statement = statement.where(TRANSACTIONS.created <= bindparam("end"))
    if awaits_activation:
        waiting = select(LOTS.transaction_id).where(
            *owned_by(LOTS), LOTS.on_action.is_(True), LOTS.remaining > EPSILON
        )
        statement = statement.where(TRANSACTIONS.id.in_(waiting))
    paging = statement.order_by(TRANSACTIONS.id.desc())
    paging = paging.offset(bindparam("skip")).limit(bindparam("limit"))
    return fastsql.prepared(paging, autoflush=True)


def transactions_list(
    db: Store | fastsql.Lease,
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
    given = {
        "subledgers": subledgers,
        "kind": kind,
        "start": start_date,
        "end": end_date,
        "session_ids": session_ids,
        "transaction_uuids": transaction_uuids,
    }
    named = {name: value for name, value in given.items() if value}
    statement = transactions_statement(frozenset(named), awaits_activation)
    parameters = {**owner.parameters(tenant_id), **named}
    rows, has_more = paged(db, statement, parameters, page)
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
