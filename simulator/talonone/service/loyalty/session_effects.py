"""What the session engine calls when a session changes state or is returned: loyalty effects
posted, rolled back, and marked tentative while the session is open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from simulator.core.formats import number
from simulator.core.store import Store
from simulator.talonone.models.loyalty import TalonLoyaltyTransaction
from simulator.talonone.service.loyalty.figures import (
    effect_owner,
    loyalty_effect_props,
    loyalty_effects,
)
from simulator.talonone.service.loyalty.programs import get_program
from simulator.talonone.service.loyalty_ledger import (
    EPSILON,
    LedgerInputError,
    Origin,
    add_points,
    deduct_points,
    lock_ledgers,
    lot_dates,
    rollback_addition,
    rollback_deduction,
)
from simulator.talonone.service.profile_store import conflict


def effect_origin(effect: dict[str, Any], props: dict[str, Any], session_id: str) -> Origin:
    return Origin(
        kind="session",
        session_id=session_id,
        name=str(props.get("name") or props.get("ruleTitle") or ""),
        campaign_id=effect.get("campaignId"),
        ruleset_id=effect.get("rulesetId"),
        rule_index=effect.get("ruleIndex"),
        rule_name=effect.get("ruleName"),
        uuid=props.get("transactionUUID"),
    )


def post_session(
    db: Store,
    tenant_id: str,
    now: datetime,
    session_id: str,
    profile_id: str | None,
    effects: list[dict],
) -> None:
    """A session closed: its loyalty effects become ledger rows."""
    for effect in loyalty_effects(effects):
        kind, props = loyalty_effect_props(effect)
        program = get_program(db, tenant_id, props.get("programId") or 0)
        if program is None:
            continue
        owner = effect_owner(program, props, profile_id)
        value = float(props.get("value") or 0)
        subledger = props.get("subLedgerId") or ""
        if owner is None or value <= 0:
            continue
        origin = effect_origin(effect, props, session_id)
        if kind == "addLoyaltyPoints":
            try:
                dates = lot_dates(
                    program,
                    now,
                    props.get("startDate"),
                    props.get("expiryDate"),
                    bool(props.get("awaitsActivation")),
                    props.get("validityDuration"),
                )
            except LedgerInputError:
                dates = lot_dates(program, now)
            add_points(db, tenant_id, program, owner, subledger, value, now, origin, dates)
        else:
            result = deduct_points(db, tenant_id, program, owner, subledger, value, now, origin)
            if result is None or result.amount < value - EPSILON:
                # The rule read the balance under the ledger's lock (rules.loyalty_effect), so
                # this cannot happen; should it, the close is refused whole rather than answer
                # points the ledger did not take.
                raise conflict()


def session_transactions(
    db: Store, tenant_id: str, session_id: str
) -> list[TalonLoyaltyTransaction]:
    statement = (
        select(TalonLoyaltyTransaction)
        .where(
            TalonLoyaltyTransaction.tenant_id == tenant_id,
            TalonLoyaltyTransaction.session_id == session_id,
            TalonLoyaltyTransaction.action.in_(("add", "deduct")),
        )
        .order_by(TalonLoyaltyTransaction.id)
    )
    # A close after a reopen posts the effects again under their UUIDs: the latest posting of
    # each is the one the session holds now (the earlier ones were rolled back by the reopen).
    latest = {(row.program_id, row.uuid): row for row in db.scalars(statement)}
    return sorted(latest.values(), key=lambda row: row.id)


def rollback_effect(original: TalonLoyaltyTransaction, value: float) -> dict[str, Any]:
    added = original.action == "add"
    props: dict[str, Any] = {
        "programId": original.program_id,
        "subLedgerId": original.subledger_id,
        "value": number(value),
        "recipientIntegrationId": original.profile_id,
        "transactionUUID": original.uuid,
    }
    if original.card_identifier:
        props["cardIdentifier"] = original.card_identifier
    return {
        "campaignId": original.campaign_id or 0,
        "rulesetId": original.ruleset_id or 0,
        "ruleIndex": original.rule_index or 0,
        "ruleName": original.rule_name or "",
        "effectType": "rollbackAddedLoyaltyPoints" if added else "rollbackDeductedLoyaltyPoints",
        "props": props,
    }


def rollback_one(
    db: Store, tenant_id: str, now: datetime, original: TalonLoyaltyTransaction, value: float
) -> dict[str, Any] | None:
    program = get_program(db, tenant_id, original.program_id)
    if program is None:
        return None
    origin = Origin(kind="session", session_id=original.session_id)
    if original.action == "add":
        result = rollback_addition(db, tenant_id, program, original, value, now, origin)
    else:
        result = rollback_deduction(db, tenant_id, original, value, now, origin)
    return rollback_effect(original, result.amount) if result is not None else None


def lock_session_ledgers(
    db: Store,
    tenant_id: str,
    profile_id: str | None,
    originals: list[TalonLoyaltyTransaction],
) -> None:
    """Before a rollback reads what is left to take back: lock the ledgers the session wrote
    (its profile's, its card's) the way a deduction does (`lock_ledgers`)."""
    if not originals:
        return
    card = next((o.card_identifier for o in originals if o.card_identifier), "")
    lock_ledgers(db, tenant_id, profile_id or "", card)


def rollback_session(
    db: Store, tenant_id: str, now: datetime, session_id: str, profile_id: str | None
) -> list[dict]:
    """Cancel or reopen: take back everything the session still holds, newest first."""
    effects = []
    originals = session_transactions(db, tenant_id, session_id)
    lock_session_ledgers(db, tenant_id, profile_id, originals)
    for original in reversed(originals):
        effect = rollback_one(db, tenant_id, now, original, original.amount)
        if effect is not None:
            effects.append(effect)
    effects.reverse()
    return effects


def tentative_card(effects: list[dict]) -> str | None:
    """What an open session with these effects records for its tentative figures: the card
    its loyalty effects name ("" for the profile's own ledgers), None without any."""
    found = loyalty_effects(effects)
    if not found:
        return None
    cards = [loyalty_effect_props(e)[1].get("cardIdentifier") for e in found]
    return next((c for c in cards if c), "")


POSTED_STATES = ("closed", "partially_returned")


def on_session_change(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    session_id: str,
    profile_id: str | None,
    previous_state: str | None,
    state: str,
    effects: list[dict],
    dry: bool,
) -> list[dict]:
    """→ closed: post; closed → cancelled or reopened (open): roll back what the session
    posted, returning the rollback effects. dry writes nothing. (An open session's tentative
    figures are its effects, marked on its row when it is saved: `tentative_card`.)"""
    if dry:
        return []
    was_posted = previous_state in POSTED_STATES
    if state == "open":
        # Its tentative figures are its own effects (the session row marks them).
        extra = rollback_session(db, tenant_id, now, session_id, profile_id) if was_posted else []
        db.flush()
        return extra
    if state == "closed" and not was_posted:
        post_session(db, tenant_id, now, session_id, profile_id, effects)
    elif state == "cancelled" and was_posted:
        extra = rollback_session(db, tenant_id, now, session_id, profile_id)
        db.flush()
        return extra
    db.flush()
    return []


def on_session_return(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    session_id: str,
    profile_id: str | None,
    rollbacks: list[dict],
) -> list[dict]:
    """Post the partial rollbacks the returns computed for returned items; returns their effects.

    Each item names the original by `transactionUUID` (or by program, subledger and effect type)
    and carries `value`, the points to take back (an addition) or give back (a deduction)."""
    originals = session_transactions(db, tenant_id, session_id)
    lock_session_ledgers(db, tenant_id, profile_id, originals)
    effects: list[dict] = []
    for item in rollbacks:
        kind, props = loyalty_effect_props(item)
        value = float(props.get("value") or 0)
        if value <= 0:
            continue
        original = match_original(originals, kind, props)
        if original is None:
            continue
        effect = rollback_one(db, tenant_id, now, original, value)
        if effect is not None:
            effects.append(effect)
    db.flush()
    return effects


def match_original(
    originals: list[TalonLoyaltyTransaction], kind: str | None, props: dict[str, Any]
) -> TalonLoyaltyTransaction | None:
    action = {
        "addLoyaltyPoints": "add",
        "rollbackAddedLoyaltyPoints": "add",
        "deductLoyaltyPoints": "deduct",
        "rollbackDeductedLoyaltyPoints": "deduct",
    }.get(kind or "")
    uuid = props.get("transactionUUID")
    for original in originals:
        if uuid and original.uuid != uuid:
            continue
        if action and original.action != action:
            continue
        if not uuid:
            if props.get("programId") not in (None, original.program_id):
                continue
            if (props.get("subLedgerId") or "") != original.subledger_id:
                continue
        return original
    return None
