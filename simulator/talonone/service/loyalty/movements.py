"""Every change of a lot's points and of a ledger's debt, written down as it is flushed.

The ledger's writers change `TalonLoyaltyLot.remaining` / `revoked` and `TalonLoyaltyLedger.debt`
in place (FIFO spends, rollbacks, debt settlement). A `before_flush` hook turns each change into a
`TalonLoyaltyMovement` row stamped with the instant the write happened at on the tenant clock
(`note_instant`, which `ensure_ledger` calls for every write), so the writers stay unaware of it
and no change can be missed. Writes made without an instant noted (a fixture's snapshot of a
lot) are not movements: they are the state the ledger always had.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from simulator.core.store import Store
from simulator.talonone.models.history import TalonLoyaltyMovement
from simulator.talonone.models.loyalty import TalonLoyaltyLedger, TalonLoyaltyLot

WRITE_INSTANT = "talonone.ledger_write_instant"
EPSILON = 1e-9


def note_instant(db: Store, now: datetime) -> None:
    """The tenant-clock instant of the ledger writes this session makes next."""
    db.info[WRITE_INSTANT] = now.timestamp()


def change_of(row: Any, name: str) -> float:
    """What attribute `name` changed by since it was loaded or last flushed."""
    history = inspect(row).attrs[name].history
    if not history.added or not history.deleted:
        return 0.0
    return float(history.added[0] or 0.0) - float(history.deleted[0] or 0.0)


def movement_of(row: Any, at_ts: float, is_new: bool) -> TalonLoyaltyMovement | None:
    if isinstance(row, TalonLoyaltyLot):
        if is_new:
            remaining, revoked = row.remaining - row.amount, row.revoked or 0.0
        else:
            remaining, revoked = change_of(row, "remaining"), change_of(row, "revoked")
        if abs(remaining) <= EPSILON and abs(revoked) <= EPSILON:
            return None
        return TalonLoyaltyMovement(
            tenant_id=row.tenant_id,
            program_id=row.program_id,
            profile_id=row.profile_id,
            card_identifier=row.card_identifier,
            subledger_id=row.subledger_id,
            lot_id=row.id,
            at_ts=at_ts,
            remaining=remaining,
            revoked=revoked,
        )
    if isinstance(row, TalonLoyaltyLedger):
        debt = (row.debt or 0.0) if is_new else change_of(row, "debt")
        if abs(debt) <= EPSILON:
            return None
        return TalonLoyaltyMovement(
            tenant_id=row.tenant_id,
            program_id=row.program_id,
            profile_id=row.profile_id,
            card_identifier=row.card_identifier,
            subledger_id=row.subledger_id,
            lot_id=None,
            at_ts=at_ts,
            debt=debt,
        )
    return None


@event.listens_for(Session, "before_flush")
def record_movements(db: Session, _context: Any, _instances: Any) -> None:
    at_ts = db.info.get(WRITE_INSTANT)
    if at_ts is None:
        return
    found = [movement_of(row, at_ts, False) for row in db.dirty]
    found += [movement_of(row, at_ts, True) for row in db.new]
    db.add_all([movement for movement in found if movement is not None])
