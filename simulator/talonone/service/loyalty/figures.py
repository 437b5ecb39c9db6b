"""The tentative loyalty figures of open sessions and the ledger summaries (`ledger_info`) that
balances and cards show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, literal_column, select

from simulator.core import fastsql
from simulator.core.formats import number
from simulator.core.store import Store
from simulator.talonone.models.core import TalonSession
from simulator.talonone.models.loyalty import TalonLoyaltyProgram
from simulator.talonone.service.loyalty.programs import tier_block
from simulator.talonone.service.loyalty_ledger import (
    Balance,
    LedgerInputError,
    Owner,
    balances,
    lot_dates,
)

LOYALTY_EFFECTS = ("addLoyaltyPoints", "deductLoyaltyPoints")


def loyalty_effect_props(effect: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(effectType, props) of an Effect dict, or of a bare props dict (type None)."""
    if "props" in effect and isinstance(effect.get("props"), dict):
        return effect.get("effectType"), effect["props"]
    return effect.get("effectType"), effect


SESSION_COLUMNS = TalonSession.__table__.c


def _latest_tentative(*condition: Any) -> fastsql.Prepared:
    return fastsql.prepared(
        select(SESSION_COLUMNS.effects)
        .where(SESSION_COLUMNS.tenant_id == bindparam("tenant"), *condition)
        .order_by(SESSION_COLUMNS.updated.desc())
        .limit(1),
        autoflush=True,
    )


# Built once, run on the DBAPI cursor (core/fastsql), on a lease or a Session: a card's open
# session, and a profile's. Each states its partial index's predicate as the index does, the
# empty string written in the SQL: bound as a parameter, SQLite reads the value to prove the
# index usable and so prepares the statement again at every execution (9.4 µs against 1.5).
LATEST_TENTATIVE_OF_CARD = _latest_tentative(
    SESSION_COLUMNS.tentative_card == bindparam("card"),
    SESSION_COLUMNS.tentative_card != literal_column("''"),
)
LATEST_TENTATIVE_OF_PROFILE = _latest_tentative(
    SESSION_COLUMNS.profile_id == bindparam("profile"),
    SESSION_COLUMNS.tentative_card.is_not(None),
)


def latest_tentative(db: Store | fastsql.Lease, tenant_id: str, owner: Owner) -> Any:
    """The owner's most recently updated open session with loyalty effects (its `effects`
    give the tentative figures), or None; a session the request changed, as changed."""
    if owner.card_identifier:
        parameters = {"tenant": tenant_id, "card": owner.card_identifier}
        return fastsql.execute(db, LATEST_TENTATIVE_OF_CARD, parameters).first()
    parameters = {"tenant": tenant_id, "profile": owner.profile_id}
    return fastsql.execute(db, LATEST_TENTATIVE_OF_PROFILE, parameters).first()


def tentative_changes(
    program: TalonLoyaltyProgram,
    owner: Owner,
    tentative: Any,
    now: datetime,
) -> dict[str, tuple[float, float, float]]:
    """Per subledger: (active added, pending added, deducted) by the open session's effects."""
    changes: dict[str, tuple[float, float, float]] = {}
    if tentative is None:
        return changes
    for effect in tentative.effects:
        kind, props = loyalty_effect_props(effect)
        if props.get("programId") != program.id:
            continue
        if owner.card_identifier and props.get("cardIdentifier") != owner.card_identifier:
            continue
        subledger = props.get("subLedgerId") or ""
        value = float(props.get("value") or 0)
        active, pending, deducted = changes.get(subledger, (0.0, 0.0, 0.0))
        if kind == "addLoyaltyPoints":
            try:
                dates = lot_dates(
                    program,
                    now,
                    props.get("startDate"),
                    props.get("expiryDate"),
                    bool(props.get("awaitsActivation")),
                )
            except LedgerInputError:
                continue
            if dates.on_action or (dates.start_at is not None and dates.start_at > now):
                pending += value
            else:
                active += value
        elif kind == "deductLoyaltyPoints":
            deducted += value
        changes[subledger] = (active, pending, deducted)
    return changes


def ledger_info(
    program: TalonLoyaltyProgram,
    balance: Balance,
    change: tuple[float, float, float] = (0.0, 0.0, 0.0),
    with_tier: bool = False,
) -> dict[str, Any]:
    """LedgerInfo: expired/spent are deprecated and always 0, as documented."""
    added_active, added_pending, deducted = change
    net = balance.active - balance.negative + added_active - deducted
    info: dict[str, Any] = {
        "currentBalance": number(balance.active),
        "pendingBalance": number(balance.pending),
        "expiredBalance": 0,
        "spentBalance": 0,
        "negativeBalance": number(balance.negative),
        "tentativeCurrentBalance": number(max(net, 0.0)),
        "tentativePendingBalance": number(balance.pending + added_pending),
        "tentativeNegativeBalance": number(max(-net, 0.0)),
    }
    if with_tier:
        block = tier_block(program, balance)
        if "currentTier" in block:
            info["currentTier"] = block["currentTier"]
        if "pointsToNextTier" in block:
            info["pointsToNextTier"] = block["pointsToNextTier"]
    return info


def ledger_infos(
    db: Store | fastsql.Lease,
    tenant_id: str,
    program: TalonLoyaltyProgram,
    owner: Owner,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(main ledger, {subledgerId: ledger}) with the tentative figures of the open session."""
    per_subledger = balances(db, tenant_id, owner, now)
    changes = tentative_changes(program, owner, latest_tentative(db, tenant_id, owner), now)
    main = ledger_info(program, per_subledger.get("", Balance()), changes.get("", (0, 0, 0)), True)
    subs = {
        subledger: ledger_info(program, balance, changes.get(subledger, (0.0, 0.0, 0.0)))
        for subledger, balance in sorted(per_subledger.items())
        if subledger != ""
    }
    return main, subs


def loyalty_effects(effects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in effects if loyalty_effect_props(e)[0] in LOYALTY_EFFECTS]


def effect_owner(
    program: TalonLoyaltyProgram, props: dict[str, Any], profile_id: str | None
) -> Owner | None:
    if program.card_based:
        card = props.get("cardIdentifier")
        return Owner(program.id, card_identifier=card) if card else None
    recipient = props.get("recipientIntegrationId") or profile_id
    return Owner(program.id, profile_id=recipient) if recipient else None
