"""Balances as of any instant: what the ledger held then.

The lots created by then count; each with the points it had left then (its current remaining
minus what changed after, from `TalonLoyaltyMovement`), pending, active or expired by its dates
compared with that instant; the debt is likewise the current one minus its later changes.
Asked for the present or a later instant this is exactly `loyalty_ledger.balances`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from simulator.core.store import Store
from simulator.talonone.models.history import TalonLoyaltyMovement
from simulator.talonone.models.loyalty import TalonLoyaltyLedger, TalonLoyaltyLot
from simulator.talonone.service.loyalty_ledger import EPSILON, Balance, Owner, balances


def later_changes(
    db: Store, tenant_id: str, owner: Owner, ts: float
) -> tuple[dict[int, tuple[float, float]], dict[str, float]]:
    """({lot id: (remaining, revoked) changed after ts}, {subledger: debt changed after ts})."""
    movement = TalonLoyaltyMovement
    rows = db.execute(
        select(
            movement.lot_id,
            movement.subledger_id,
            func.sum(movement.remaining),
            func.sum(movement.revoked),
            func.sum(movement.debt),
        )
        .where(movement.tenant_id == tenant_id, *owner.where(movement), movement.at_ts > ts)
        .group_by(movement.lot_id, movement.subledger_id)
    ).all()
    lots: dict[int, tuple[float, float]] = {}
    debts: dict[str, float] = {}
    for lot_id, subledger, remaining, revoked, debt in rows:
        if lot_id is None:
            debts[subledger] = debts.get(subledger, 0.0) + (debt or 0.0)
        else:
            lots[lot_id] = (remaining or 0.0, revoked or 0.0)
    return lots, debts


def lot_balance(lot: TalonLoyaltyLot, remaining: float, revoked: float, ts: float) -> Balance:
    """One lot's part of a balance at `ts`, given the points it had left and revoked then."""
    spent = max(lot.amount - remaining - revoked, 0.0)
    if lot.start_ts > ts:
        return Balance(pending=remaining, spent=spent)
    if lot.expiry_ts <= ts:
        return Balance(expired=remaining, spent=spent)
    return Balance(active=remaining, spent=spent)


def balances_as_of(
    db: Store, tenant_id: str, owner: Owner, at: datetime, subledgers: list[str] | None = None
) -> dict[str, Balance]:
    """Balance per subledger at `at`, of the ledgers that existed then."""
    ts = at.timestamp()
    ledgers = db.execute(
        select(TalonLoyaltyLedger.subledger_id, TalonLoyaltyLedger.debt).where(
            TalonLoyaltyLedger.tenant_id == tenant_id,
            *owner.where(TalonLoyaltyLedger),
            TalonLoyaltyLedger.joined <= at,
        )
    ).all()
    wanted = {sub for sub, _debt in ledgers if subledgers is None or sub in subledgers}
    if not wanted:
        return {}
    lot_changes, debt_changes = later_changes(db, tenant_id, owner, ts)
    lots = db.scalars(
        select(TalonLoyaltyLot).where(
            TalonLoyaltyLot.tenant_id == tenant_id,
            *owner.where(TalonLoyaltyLot),
            TalonLoyaltyLot.created <= at,
            TalonLoyaltyLot.subledger_id.in_(wanted),
        )
    )
    result = {sub: Balance() for sub in wanted}
    for lot in lots:
        changed_remaining, changed_revoked = lot_changes.get(lot.id, (0.0, 0.0))
        part = lot_balance(
            lot, lot.remaining - changed_remaining, lot.revoked - changed_revoked, ts
        )
        total = result[lot.subledger_id]
        total.active += part.active
        total.pending += part.pending
        total.expired += part.expired
        total.spent += part.spent
    for subledger, debt in ledgers:
        if subledger not in wanted:
            continue
        debt_then = max(debt - debt_changes.get(subledger, 0.0), 0.0)
        balance = result[subledger]
        if debt_then > EPSILON:
            net = balance.active - debt_then
            balance.active, balance.negative = (net, 0.0) if net >= 0 else (0.0, -net)
    return result


def balances_at(
    db: Store,
    tenant_id: str,
    owner: Owner,
    now: datetime,
    end_date: datetime | None,
    subledgers: list[str] | None = None,
) -> dict[str, Balance]:
    """The balances an `endDate` asks for: the present and later instants read the lots as they
    are (the cached aggregate); an earlier one what the ledger held then."""
    if end_date is None or end_date >= now:
        return balances(db, tenant_id, owner, end_date or now, subledgers)
    return balances_as_of(db, tenant_id, owner, end_date, subledgers)
