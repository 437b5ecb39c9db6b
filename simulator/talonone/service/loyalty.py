"""Talon.One loyalty: programs, cards, balances, points and transaction lists, and the hooks the
session engine (part 1) calls when a session changes state or is returned.

No HTTP here: errors are `LoyaltyError(status, message, parameter/pointer)` that the routes turn
into the API's error body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlmodel import Session

from simulator.core.clock import format_instant
from simulator.core.ids import ALPHANUMERIC, next_value, seeded_rng
from simulator.core.storable import fits, length_of
from simulator.talonone.models.core import TalonProfile, TalonSession
from simulator.talonone.models.loyalty import (
    TalonLoyaltyCard,
    TalonLoyaltyCardProfile,
    TalonLoyaltyLedger,
    TalonLoyaltyLot,
    TalonLoyaltyProgram,
    TalonLoyaltySpend,
    TalonLoyaltyTransaction,
)
from simulator.talonone.service.campaigns import loyalty_program
from simulator.talonone.service.loyalty_ledger import (
    EPSILON,
    Balance,
    LedgerInputError,
    Origin,
    Owner,
    active_condition,
    add_points,
    available,
    balances,
    deduct_points,
    expired_condition,
    ledger_exists,
    lock_ledgers,
    lot_dates,
    number,
    pending_condition,
    rollback_addition,
    rollback_deduction,
)
from simulator.talonone.service.profiles import conflict

CARD_IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{4,108}$")
CARD_STATUSES = ("active", "inactive")
LOYALTY_EFFECTS = ("addLoyaltyPoints", "deductLoyaltyPoints")
DEFAULT_PAGE_SIZE = 50


class LoyaltyError(Exception):
    def __init__(
        self, status: int, message: str, *, parameter: str | None = None, pointer: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.parameter, self.pointer = (
            status,
            message,
            parameter,
            pointer,
        )


# --- programs ------------------------------------------------------------------------------


def get_program(db: Session, tenant_id: str, program_id: int) -> TalonLoyaltyProgram | None:
    """The program, read-only (shared by requests: see campaigns.loyalty_program); None for an
    id beyond the store's range too (no program has one)."""
    if not fits(TalonLoyaltyProgram.id, program_id):
        return None
    return loyalty_program(db, tenant_id, program_id)


def program_ids(db: Session, tenant_id: str) -> set[int]:
    statement = select(TalonLoyaltyProgram.id).where(TalonLoyaltyProgram.tenant_id == tenant_id)
    return set(db.scalars(statement))


def require_program(
    db: Session, tenant_id: str, program_id: int, *, card_based: bool
) -> TalonLoyaltyProgram:
    """404 for an unknown program, 400 when the endpoint is for the other kind of program."""
    program = get_program(db, tenant_id, program_id)
    if program is None:
        raise LoyaltyError(
            404, f"Loyalty program {program_id} not found", parameter="loyaltyProgramId"
        )
    if program.card_based != card_based:
        kind = "card-based" if card_based else "profile-based"
        raise LoyaltyError(
            400,
            f"Loyalty program {program_id} is not a {kind} loyalty program",
            parameter="loyaltyProgramId",
        )
    return program


def subledger_known(program: TalonLoyaltyProgram, subledger: str) -> bool:
    return subledger == "" or subledger in program.subledgers


# --- tiers -----------------------------------------------------------------------------------


def sorted_tiers(program: TalonLoyaltyProgram) -> list[dict[str, Any]]:
    return sorted(program.tiers, key=lambda tier: tier.get("minPoints", 0))


def tier_for(program: TalonLoyaltyProgram, points: float) -> dict[str, Any] | None:
    reached = [t for t in sorted_tiers(program) if points + EPSILON >= t.get("minPoints", 0)]
    return reached[-1] if reached else None


def tier_view(program: TalonLoyaltyProgram, tier: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"id": int(tier["id"]), "name": str(tier["name"])}
    view["downgradePolicy"] = program.tiers_downgrade_policy
    return view


def tier_block(program: TalonLoyaltyProgram, balance: Balance) -> dict[str, Any]:
    """currentTier / pointsToNextTier / nextTierName from the main ledger's active points."""
    tiers = sorted_tiers(program)
    if not tiers:
        return {}
    points = balance.active
    current = tier_for(program, points)
    block: dict[str, Any] = {}
    if current is not None:
        block["currentTier"] = tier_view(program, current)
        higher = [t for t in tiers if t.get("minPoints", 0) > current.get("minPoints", 0)]
    else:
        higher = tiers
    if higher:
        block["pointsToNextTier"] = number(max(higher[0].get("minPoints", 0) - points, 0.0))
        block["nextTierName"] = str(higher[0]["name"])
    return block


def projected_tier(program: TalonLoyaltyProgram, balance: Balance) -> dict[str, Any]:
    """Chosen: the projection counts pending points as if already active."""
    projected = balance.active + balance.pending
    tier = tier_for(program, projected)
    current = tier_for(program, balance.active)
    view: dict[str, Any] = {"projectedActivePoints": number(projected)}
    if tier is not None:
        view["projectedTierName"] = str(tier["name"])
    if current is not None:
        view["stayInTierPoints"] = number(max(current.get("minPoints", 0) - projected, 0.0))
    return view


# --- tentative figures of an open session ---------------------------------------------------


def loyalty_effect_props(effect: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(effectType, props) of an Effect dict, or of a bare props dict (type None)."""
    if "props" in effect and isinstance(effect.get("props"), dict):
        return effect.get("effectType"), effect["props"]
    return effect.get("effectType"), effect


def latest_tentative(db: Session, tenant_id: str, owner: Owner) -> Any:
    """The owner's most recently updated open session with loyalty effects (its `effects`
    give the tentative figures), or None."""
    sessions = TalonSession.__table__.c
    condition = (
        and_(sessions.tentative_card == owner.card_identifier, sessions.tentative_card != "")
        if owner.card_identifier
        else and_(sessions.profile_id == owner.profile_id, sessions.tentative_card.is_not(None))
    )
    statement = (
        select(sessions.effects)
        .where(sessions.tenant_id == tenant_id, condition)
        .order_by(sessions.updated.desc())
        .limit(1)
    )
    return db.execute(statement).first()


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
    db: Session, tenant_id: str, program: TalonLoyaltyProgram, owner: Owner, now: datetime
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


# --- profiles --------------------------------------------------------------------------------


def profile_known(db: Session, tenant_id: str, program_id: int, profile_id: str) -> bool:
    """A profile exists for the loyalty endpoints if part 1 knows it or it has a ledger here."""
    if ledger_exists(db, tenant_id, Owner(program_id, profile_id=profile_id)):
        return True
    try:
        from simulator.talonone.service.profiles import get_profile
    except ImportError:  # part 1 not landed: only ledgers tell
        return False
    return get_profile(db, tenant_id, profile_id) is not None


def require_profile(db: Session, tenant_id: str, program_id: int, profile_id: str) -> Owner:
    if not profile_known(db, tenant_id, program_id, profile_id):
        raise LoyaltyError(
            404, f"Customer profile {profile_id} not found", parameter="integrationId"
        )
    return Owner(program_id, profile_id=profile_id)


def profile_balances(
    db: Session,
    tenant_id: str,
    now: datetime,
    *,
    program_id: int,
    profile_id: str,
    end_date: datetime | None = None,
    subledger: str | None = None,
    include_tiers: bool = False,
    include_projected_tier: bool = False,
) -> dict[str, Any]:
    """LoyaltyBalancesWithTiers: `balance` is the main ledger, `subledgerBalances` the others
    (or only the one asked for); tiers from the main ledger."""
    program = require_program(db, tenant_id, program_id, card_based=False)
    owner = require_profile(db, tenant_id, program_id, profile_id)
    at = end_date or now
    if subledger is not None and subledger != "":
        if not subledger_known(program, subledger):
            raise LoyaltyError(400, f"Subledger {subledger} not found", parameter="subledgerId")
        found = balances(db, tenant_id, owner, at, [subledger])
        return {"subledgerBalances": {subledger: found.get(subledger, Balance()).as_api()}}
    found = balances(db, tenant_id, owner, at)
    main = found.get("", Balance())
    main_view: dict[str, Any] = main.as_api()
    if include_tiers:
        main_view.update(tier_block(program, main))
    if include_projected_tier and program.tiers:
        main_view["projectedTier"] = projected_tier(program, main)
    body: dict[str, Any] = {"balance": main_view}
    if subledger is None:
        body["subledgerBalances"] = {
            key: value.as_api() for key, value in sorted(found.items()) if key != ""
        }
    return body


def available_points(
    db: Session,
    tenant_id: str,
    now: datetime,
    *,
    program_id: int,
    profile_id: str | None = None,
    card_identifier: str | None = None,
    subledger: str = "",
    lock: bool = False,
) -> float:
    """Active points minus any negative balance in the ledger a deduction of this program
    takes from (the card's in a card-based program, else the profile's, as `post_session`
    posts it), for a rule's deduction; 0 when there is none.

    `lock`: the profile and its ledgers and the card's are locked first, for the rest of the
    transaction, so that the deduction posted when the session closes finds what was read
    here (no other writer takes those points in between)."""
    if lock:
        lock_ledgers(db, tenant_id, profile_id or "", card_identifier or "")
    program = get_program(db, tenant_id, program_id)
    if program is None:
        return 0.0
    owner = effect_owner(program, {"cardIdentifier": card_identifier}, profile_id)
    if owner is None:
        return 0.0
    return available(db, tenant_id, owner, now, subledger)


def profile_loyalty_block(db: Session, tenant_id: str, now: datetime, profile_id: str) -> dict:
    """The `loyalty` block of a profile: its profile-based programs and its linked cards."""
    joined = db.execute(
        select(TalonLoyaltyLedger.program_id, func.min(TalonLoyaltyLedger.joined))
        .where(
            TalonLoyaltyLedger.tenant_id == tenant_id,
            TalonLoyaltyLedger.profile_id == profile_id,
            TalonLoyaltyLedger.card_identifier == "",
        )
        .group_by(TalonLoyaltyLedger.program_id)
    ).all()
    programs: dict[str, Any] = {}
    for program_id, join_date in sorted(joined):
        program = get_program(db, tenant_id, program_id)
        if program is None:
            continue
        main, subs = ledger_infos(
            db, tenant_id, program, Owner(program_id, profile_id=profile_id), now
        )
        entry: dict[str, Any] = {
            "id": program.id,
            "title": program.title,
            "name": program.name,
            "joinDate": format_instant(join_date),
            "ledger": main,
        }
        if subs:
            entry["subLedgers"] = subs
        programs[str(program_id)] = entry
    block: dict[str, Any] = {"programs": programs}
    cards = linked_cards(db, tenant_id, profile_id)
    if cards:
        block["cards"] = [card_view(db, tenant_id, card, now) for card in cards]
    return block


def delete_profile_data(db: Session, tenant_id: str, profile_id: str) -> None:
    """Remove the profile's ledgers, lots, transactions and card links."""
    transaction_ids = select(TalonLoyaltyTransaction.id).where(
        TalonLoyaltyTransaction.tenant_id == tenant_id,
        TalonLoyaltyTransaction.profile_id == profile_id,
        TalonLoyaltyTransaction.card_identifier == "",
    )
    db.execute(
        delete(TalonLoyaltySpend).where(
            TalonLoyaltySpend.tenant_id == tenant_id,
            TalonLoyaltySpend.transaction_id.in_(transaction_ids),
        )
    )
    for table in (TalonLoyaltyLot, TalonLoyaltyTransaction, TalonLoyaltyLedger):
        db.execute(
            delete(table).where(
                table.tenant_id == tenant_id,
                table.profile_id == profile_id,
                table.card_identifier == "",
            )
        )
    # The profile's open sessions, and with them their tentative figures, go with the profile.
    db.execute(
        delete(TalonLoyaltyCardProfile).where(
            TalonLoyaltyCardProfile.tenant_id == tenant_id,
            TalonLoyaltyCardProfile.profile_id == profile_id,
        )
    )


# --- lists -----------------------------------------------------------------------------------


@dataclass
class Page:
    size: int = DEFAULT_PAGE_SIZE
    skip: int = 0


def paged(db: Session, statement: Any, page: Page) -> tuple[list[Any], bool]:
    rows = list(db.scalars(statement.offset(page.skip).limit(page.size + 1)))
    return rows[: page.size], len(rows) > page.size


def points_list(
    db: Session,
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
    db: Session,
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


# --- cards -----------------------------------------------------------------------------------


def get_card(
    db: Session, tenant_id: str, program_id: int, identifier: str
) -> TalonLoyaltyCard | None:
    statement = select(TalonLoyaltyCard).where(
        TalonLoyaltyCard.tenant_id == tenant_id,
        TalonLoyaltyCard.program_id == program_id,
        TalonLoyaltyCard.identifier == identifier,
    )
    return db.scalars(statement).first()


def require_card(
    db: Session, tenant_id: str, program_id: int, identifier: str
) -> tuple[TalonLoyaltyProgram, TalonLoyaltyCard]:
    program = require_program(db, tenant_id, program_id, card_based=True)
    card = get_card(db, tenant_id, program_id, identifier)
    if card is None:
        raise LoyaltyError(404, f"Loyalty card {identifier} not found", parameter="loyaltyCardId")
    return program, card


def card_profiles(db: Session, tenant_id: str, card_id: int) -> list[TalonLoyaltyCardProfile]:
    statement = (
        select(TalonLoyaltyCardProfile)
        .where(
            TalonLoyaltyCardProfile.tenant_id == tenant_id,
            TalonLoyaltyCardProfile.card_id == card_id,
        )
        .order_by(TalonLoyaltyCardProfile.timestamp, TalonLoyaltyCardProfile.profile_id)
    )
    return list(db.scalars(statement))


def linked_cards(db: Session, tenant_id: str, profile_id: str) -> list[TalonLoyaltyCard]:
    statement = (
        select(TalonLoyaltyCard)
        .join(
            TalonLoyaltyCardProfile,
            and_(
                TalonLoyaltyCardProfile.tenant_id == TalonLoyaltyCard.tenant_id,
                TalonLoyaltyCardProfile.card_id == TalonLoyaltyCard.id,
            ),
        )
        .where(
            TalonLoyaltyCard.tenant_id == tenant_id,
            TalonLoyaltyCardProfile.profile_id == profile_id,
        )
        .order_by(TalonLoyaltyCardProfile.card_id)  # the per-profile index's order
    )
    return list(db.scalars(statement))


def registration_view(link: TalonLoyaltyCardProfile) -> dict[str, Any]:
    return {"integrationId": link.profile_id, "timestamp": format_instant(link.timestamp)}


def card_view(db: Session, tenant_id: str, card: TalonLoyaltyCard, now: datetime) -> dict[str, Any]:
    program = get_program(db, tenant_id, card.program_id)
    assert program is not None
    main, subs = ledger_infos(
        db, tenant_id, program, Owner(program.id, card_identifier=card.identifier), now
    )
    view: dict[str, Any] = {
        "id": card.id,
        "created": format_instant(card.created),
        "programID": program.id,
        "programName": program.name,
        "programTitle": program.title,
        "status": card.status,
        "identifier": card.identifier,
        "usersPerCardLimit": program.users_per_card_limit,
        "profiles": [registration_view(link) for link in card_profiles(db, tenant_id, card.id)],
        "ledger": main,
        "subledgers": subs,
    }
    if card.block_reason:
        view["blockReason"] = card.block_reason
    if card.modified is not None:
        view["modified"] = format_instant(card.modified)
    if card.batch_id:
        view["batchId"] = card.batch_id
    return view


def generated_identifier(seed: int, tenant_id: str, program: TalonLoyaltyProgram, n: int) -> str:
    """From the program's code settings: `couponPattern` (`#` = a drawn character) and
    `validCharacters`; by default 12 upper-case letters and digits."""
    settings = program.card_code_settings or {}
    alphabet = "".join(settings.get("validCharacters") or []) or ALPHANUMERIC
    pattern = settings.get("couponPattern") or "#" * 12
    rng = seeded_rng(seed, tenant_id, "talonone-loyalty-card", program.id, n)
    return "".join(rng.choice(alphabet) if char == "#" else char for char in pattern)


def ensure_profiles(db: Session, tenant_id: str, profile_ids: list[str], now: datetime) -> None:
    """Linking a card to an unknown profile creates the profile, as sessions do (part 1)."""
    try:
        from simulator.talonone.service.profiles import ensure_profile
    except ImportError:
        return
    for profile_id in profile_ids:
        ensure_profile(db, tenant_id, profile_id, now)


def generate_card(
    db: Session,
    tenant_id: str,
    now: datetime,
    seed: int,
    *,
    program_id: int,
    status: str = "active",
    profile_ids: list[str] | None = None,
    identifier: str | None = None,
) -> TalonLoyaltyCard:
    program = require_program(db, tenant_id, program_id, card_based=True)
    if status not in CARD_STATUSES:
        raise LoyaltyError(
            400, "status must be one of the following: active, inactive", pointer="/status"
        )
    longest = length_of(TalonProfile.integration_id)
    if any(not isinstance(p, str) or not 1 <= len(p) <= longest for p in profile_ids or ()):
        raise LoyaltyError(
            400,
            f"customerProfileIds must be strings of 1 to {longest} characters",
            pointer="/customerProfileIds",
        )
    profile_ids = list(dict.fromkeys(profile_ids or []))
    limit = program.users_per_card_limit
    if limit and len(profile_ids) > limit:
        raise LoyaltyError(
            400,
            f"The number of customer profiles exceeds the card user limit ({limit})",
            pointer="/customerProfileIds",
        )
    if identifier is not None:
        if not CARD_IDENTIFIER.match(identifier):
            raise LoyaltyError(
                400,
                "cardIdentifier must be 4 to 108 characters of letters, digits, '_' or '-'",
                pointer="/cardIdentifier",
            )
        if get_card(db, tenant_id, program_id, identifier) is not None:
            raise LoyaltyError(
                400, f"Loyalty card {identifier} already exists", pointer="/cardIdentifier"
            )
    card_id = next_value(db, tenant_id, "talonone.loyalty_card")
    if identifier is None:
        attempt = card_id
        identifier = generated_identifier(seed, tenant_id, program, attempt)
        while get_card(db, tenant_id, program_id, identifier) is not None:
            attempt += 1_000_003
            identifier = generated_identifier(seed, tenant_id, program, attempt)
    card = TalonLoyaltyCard(
        tenant_id=tenant_id,
        id=card_id,
        program_id=program_id,
        identifier=identifier,
        status=status,
        created=now,
    )
    db.add(card)
    ensure_profiles(db, tenant_id, profile_ids, now)
    for profile_id in profile_ids:
        db.add(
            TalonLoyaltyCardProfile(
                tenant_id=tenant_id, card_id=card_id, profile_id=profile_id, timestamp=now
            )
        )
    db.flush()
    return card


def link_card(
    db: Session, tenant_id: str, now: datetime, *, program_id: int, identifier: str, profile_id: str
) -> TalonLoyaltyCard:
    program, card = require_card(db, tenant_id, program_id, identifier)
    links = card_profiles(db, tenant_id, card.id)
    if any(link.profile_id == profile_id for link in links):
        raise LoyaltyError(
            400,
            f"Customer profile {profile_id} is already linked to this card",
            pointer="/integrationId",
        )
    limit = program.users_per_card_limit
    if limit and len(links) >= limit:
        raise LoyaltyError(
            400, f"The card user limit ({limit}) has been reached", pointer="/integrationId"
        )
    ensure_profiles(db, tenant_id, [profile_id], now)
    db.add(
        TalonLoyaltyCardProfile(
            tenant_id=tenant_id, card_id=card.id, profile_id=profile_id, timestamp=now
        )
    )
    card.modified = now
    db.add(card)
    db.flush()
    return card


def card_balances(
    db: Session,
    tenant_id: str,
    now: datetime,
    *,
    program_id: int,
    identifier: str,
    end_date: datetime | None = None,
    subledgers: list[str] | None = None,
) -> dict[str, Any]:
    _program, card = require_card(db, tenant_id, program_id, identifier)
    owner = Owner(program_id, card_identifier=card.identifier)
    found = balances(db, tenant_id, owner, end_date or now)
    body: dict[str, Any] = {}
    if not subledgers:
        body["balance"] = found.get("", Balance()).as_api()
        body["subledgerBalances"] = {k: v.as_api() for k, v in sorted(found.items()) if k != ""}
    else:
        body["subledgerBalances"] = {s: found.get(s, Balance()).as_api() for s in subledgers}
    body["profiles"] = [registration_view(link) for link in card_profiles(db, tenant_id, card.id)]
    return body


# --- session hooks -------------------------------------------------------------------------


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
    db: Session,
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
    db: Session, tenant_id: str, session_id: str
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
    return list(db.scalars(statement))


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
    db: Session, tenant_id: str, now: datetime, original: TalonLoyaltyTransaction, value: float
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
    db: Session,
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
    db: Session, tenant_id: str, now: datetime, session_id: str, profile_id: str | None
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
    db: Session,
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
    db: Session,
    tenant_id: str,
    now: datetime,
    *,
    session_id: str,
    profile_id: str | None,
    rollbacks: list[dict],
) -> list[dict]:
    """Post the partial rollbacks part 1 computed for returned items; returns their effects.

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


def manual_points(
    db: Session,
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
        raise LoyaltyError(404, f"Loyalty program {program_id} not found")
    if program.card_based:
        if not card_identifier or get_card(db, tenant_id, program_id, card_identifier) is None:
            raise LoyaltyError(
                400, "a card-based program needs the cardIdentifier of one of its cards"
            )
        owner = Owner(program_id, card_identifier=card_identifier)
    else:
        if not profile_id:
            raise LoyaltyError(400, "a profile-based program needs profileId")
        owner = Owner(program_id, profile_id=profile_id)
    if not subledger_known(program, subledger):
        raise LoyaltyError(400, f"Subledger {subledger} not found")
    origin = Origin(kind="manual", name=name)
    if kind == "addition":
        try:
            dates = lot_dates(program, now, start, expiry)
        except LedgerInputError as error:
            raise LoyaltyError(400, str(error)) from None
        result = add_points(db, tenant_id, program, owner, subledger, amount, now, origin, dates)
    else:
        result = deduct_points(db, tenant_id, program, owner, subledger, amount, now, origin)
        if result is None:
            raise LoyaltyError(400, "no active points to deduct")
    db.flush()
    uuids = [result.transaction.uuid]
    listed = transactions_list(db, tenant_id, owner, now, transaction_uuids=uuids, page=Page())
    return listed["data"][0]
