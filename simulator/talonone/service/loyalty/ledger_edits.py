"""Removing things from a ledger's owner: a customer's transactions
(`deleteLoyaltyTransactionsFromLedgers`) and a card's link to a profile
(`unlinkLoyaltyCardFromProfile`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.history import TalonLoyaltyMovement
from simulator.talonone.models.loyalty import (
    TalonLoyaltyCard,
    TalonLoyaltyCardProfile,
    TalonLoyaltyLedger,
    TalonLoyaltyLot,
    TalonLoyaltySpend,
    TalonLoyaltyTransaction,
)
from simulator.talonone.service.loyalty.balances import require_profile
from simulator.talonone.service.loyalty.cards import require_card
from simulator.talonone.service.loyalty.programs import (
    require_program,
    subledger_known,
)
from simulator.talonone.service.loyalty_ledger import ensure_ledger

SCOPES = ("AllSubledgers", "SelectedSubledgers")


def chosen_subledgers(
    program_subledgers: list[str], scope: str, given: list[str] | None
) -> list[str]:
    """The ledgers a deletion applies to: all of the program's ("" the main one) or the given."""
    if scope == "AllSubledgers":
        return ["", *program_subledgers]
    if not given:
        raise TalonOneError(
            400,
            "subledgerIds is required when scope is SelectedSubledgers",
            pointer="/subledgerIds",
            title="Invalid value",
        )
    return list(dict.fromkeys(given))


def delete_transactions(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    program_id: int,
    profile_id: str,
    scope: str,
    subledger_ids: list[str] | None,
) -> None:
    """Delete every transaction of the profile in the chosen ledgers, with the points they
    brought (lots) and took (spends, debt): those ledgers then stand at zero, their history
    empty; the profile stays in the program."""
    program = require_program(db, tenant_id, program_id, card_based=False)
    owner = require_profile(db, tenant_id, program_id, profile_id)
    subledgers = chosen_subledgers(program.subledgers, scope, subledger_ids)
    for subledger in subledgers:
        if not subledger_known(program, subledger):
            raise TalonOneError(
                400,
                f"Subledger {subledger} not found",
                pointer="/subledgerIds",
                title="Invalid value",
            )
    ledgers = db.scalars(
        select(TalonLoyaltyLedger.subledger_id).where(
            TalonLoyaltyLedger.tenant_id == tenant_id,
            *owner.where(TalonLoyaltyLedger),
            TalonLoyaltyLedger.subledger_id.in_(subledgers),
        )
    ).all()
    for subledger in ledgers:
        ensure_ledger(db, tenant_id, owner, subledger, now).debt = 0.0
    db.flush()
    transaction = TalonLoyaltyTransaction
    removed_ids = select(transaction.id).where(
        transaction.tenant_id == tenant_id,
        *owner.where(transaction),
        transaction.subledger_id.in_(subledgers),
    )
    db.execute(
        delete(TalonLoyaltySpend).where(
            TalonLoyaltySpend.tenant_id == tenant_id,
            TalonLoyaltySpend.transaction_id.in_(removed_ids),
        )
    )
    for table in (TalonLoyaltyMovement, TalonLoyaltyLot, TalonLoyaltyTransaction):
        db.execute(
            delete(table).where(
                table.tenant_id == tenant_id,
                *owner.where(table),
                table.subledger_id.in_(subledgers),
            ),
            execution_options={"synchronize_session": False},
        )
    db.expire_all()


def unlink_card(
    db: Store, tenant_id: str, now: datetime, *, program_id: int, identifier: str, profile_id: str
) -> TalonLoyaltyCard:
    """Remove the card's link to the profile; the card and its ledger stay as they are."""
    _program, card = require_card(db, tenant_id, program_id, identifier)
    linked = db.get(TalonLoyaltyCardProfile, (tenant_id, card.id, profile_id))
    if linked is None:
        raise TalonOneError(
            404,
            f"Customer profile {profile_id} is not linked to loyalty card {identifier}",
            pointer="/integrationId",
            title="Not found",
        )
    db.execute(
        delete(TalonLoyaltyCardProfile).where(
            TalonLoyaltyCardProfile.tenant_id == tenant_id,
            TalonLoyaltyCardProfile.card_id == card.id,
            TalonLoyaltyCardProfile.profile_id == profile_id,
        ),
        execution_options={"synchronize_session": False},
    )
    db.expunge(linked)
    card.modified = now
    db.add(card)
    db.flush()
    return card
