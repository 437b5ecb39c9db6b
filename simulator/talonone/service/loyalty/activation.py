"""Activating points that wait for an action (`activateLoyaltyPoints`).

Points added with `startDate: "on_action"` (an earning rule's, a manual addition's with
`awaitsActivation`) are pending until activated, by the session that earned them or by their
transactions' UUIDs. Activation starts them now; a `validityDuration` then sets their expiry.
The activation instant becomes the lot's start, so a balance asked for an earlier instant still
shows them pending.
"""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import select

from simulator.core.clock import format_instant
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.loyalty import TalonLoyaltyLot, TalonLoyaltyTransaction
from simulator.talonone.service.loyalty.cards import get_card
from simulator.talonone.service.loyalty.programs import get_program
from simulator.talonone.service.loyalty_ledger import (
    EPSILON,
    Owner,
    activate_lot_dates,
    ensure_ledger,
    number,
)


def waiting_lots(
    db: Store,
    tenant_id: str,
    program_id: int,
    session_id: str | None,
    transaction_uuids: list[str] | None,
) -> list[TalonLoyaltyLot]:
    """The program's lots still awaiting activation with points left, of the session or the
    transactions named, in posting order."""
    lot = TalonLoyaltyLot
    waiting = (lot.tenant_id == tenant_id, lot.on_action.is_(True), lot.remaining > EPSILON)
    if session_id is not None:
        # on ix_talonone_loyalty_lot_session, which ends in id: the order comes with the rows
        of_session = select(lot).where(
            *waiting, lot.session_id == session_id, lot.program_id == program_id
        )
        return list(db.scalars(of_session.order_by(lot.id)))
    # The program and the order are applied here, not by the store: without statistics,
    # SQLite given either walks the tenant's lots (on the owner index's tenant_id and
    # program_id for more than one UUID; on the primary key for ORDER BY id) rather than find
    # the few lots of the UUIDs on ix_talonone_loyalty_lot_transaction.
    named = select(lot).where(*waiting, lot.transaction_uuid.in_(transaction_uuids or []))
    found = [row for row in db.scalars(named) if row.program_id == program_id]
    return sorted(found, key=attrgetter("id"))


def ledger_entry(db: Store, tenant_id: str, lot: TalonLoyaltyLot) -> dict[str, Any]:
    """The activated lot as a LedgerEntry: its points as they now stand."""
    entry: dict[str, Any] = {
        "created": format_instant(lot.created),
        "programID": lot.program_id,
        "type": "addition",
        "amount": number(lot.remaining),
        "name": lot.name,
        "subLedgerID": lot.subledger_id,
    }
    if lot.start_at is not None:
        entry["startDate"] = format_instant(lot.start_at)
    if lot.expiry_at is not None:
        entry["expiryDate"] = format_instant(lot.expiry_at)
    if lot.profile_id:
        entry["customerProfileID"] = lot.profile_id
    if lot.card_identifier:
        card = get_card(db, tenant_id, lot.program_id, lot.card_identifier)
        if card is not None:
            entry["cardID"] = card.id
    if lot.session_id:
        entry["customerSessionID"] = lot.session_id
    if lot.validity_duration:
        entry["validityDuration"] = lot.validity_duration
    return entry


def activate_points(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    program_id: int,
    session_id: str | None = None,
    transaction_uuids: list[str] | None = None,
) -> dict[str, Any]:
    """Activate the waiting points of a session or of transactions; 404 when none wait."""
    if get_program(db, tenant_id, program_id) is None:
        raise TalonOneError(
            404,
            f"Loyalty program {program_id} not found",
            parameter="loyaltyProgramId",
            title="Not found",
        )
    lots = waiting_lots(db, tenant_id, program_id, session_id, transaction_uuids)
    if not lots:
        named = f"session {session_id}" if session_id is not None else "the given transactions"
        raise TalonOneError(
            404, f"No points awaiting activation found for {named}", title="Not found"
        )
    entries = []
    for lot in lots:
        owner = Owner(lot.program_id, lot.profile_id, lot.card_identifier)
        ensure_ledger(db, tenant_id, owner, lot.subledger_id, now)  # a new version: caches
        activate_lot_dates(lot, now)
        transaction = db.get(TalonLoyaltyTransaction, (tenant_id, lot.transaction_id))
        if transaction is not None:
            transaction.start_text, transaction.expiry_text = lot.start_text, lot.expiry_text
        entries.append(ledger_entry(db, tenant_id, lot))
    db.flush()
    return {"ledgerEntries": entries}
