"""Manual additions and subtractions of points (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.service.loyalty.cards import get_card
from simulator.talonone.service.loyalty.history import Page, transactions_list
from simulator.talonone.service.loyalty.programs import get_program, subledger_known
from simulator.talonone.service.loyalty_ledger import (
    LedgerInputError,
    Origin,
    Owner,
    add_points,
    deduct_points,
    lot_dates,
)


def manual_points(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    program_id: int,
    profile_id: str | None,
    card_identifier: str | None,
    subledger: str,
    kind: str,
    amount: float,
    name: str,
    start: str | None,
    expiry: str | None,
) -> dict[str, Any]:
    """A manual addition or subtraction (admin), answered as the API lists transactions."""
    program = get_program(db, tenant_id, program_id)
    if program is None:
        raise TalonOneError(404, f"Loyalty program {program_id} not found")
    if program.card_based:
        if not card_identifier or get_card(db, tenant_id, program_id, card_identifier) is None:
            raise TalonOneError(
                400, "a card-based program needs the cardIdentifier of one of its cards"
            )
        owner = Owner(program_id, card_identifier=card_identifier)
    else:
        if not profile_id:
            raise TalonOneError(400, "a profile-based program needs profileId")
        owner = Owner(program_id, profile_id=profile_id)
    if not subledger_known(program, subledger):
        raise TalonOneError(400, f"Subledger {subledger} not found")
    origin = Origin(kind="manual", name=name)
    if kind == "addition":
        try:
            dates = lot_dates(program, now, start, expiry)
        except LedgerInputError as error:
            raise TalonOneError(400, str(error)) from None
        result = add_points(db, tenant_id, program, owner, subledger, amount, now, origin, dates)
    else:
        result = deduct_points(db, tenant_id, program, owner, subledger, amount, now, origin)
        if result is None:
            raise TalonOneError(400, "no active points to deduct")
    db.flush()
    uuids = [result.transaction.uuid]
    listed = transactions_list(db, tenant_id, owner, now, transaction_uuids=uuids, page=Page())
    return listed["data"][0]
