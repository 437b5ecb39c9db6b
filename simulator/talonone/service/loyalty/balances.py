"""A profile's loyalty: its balances, the points available to a deduction, the `loyalty` block
of a profile, its removal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.history import TalonLoyaltyMovement
from simulator.talonone.models.loyalty import (
    TalonLoyaltyCardProfile,
    TalonLoyaltyLedger,
    TalonLoyaltyLot,
    TalonLoyaltySpend,
    TalonLoyaltyTransaction,
)
from simulator.talonone.service.loyalty.asof import balances_at
from simulator.talonone.service.loyalty.cards import card_view, linked_cards
from simulator.talonone.service.loyalty.figures import effect_owner, ledger_infos
from simulator.talonone.service.loyalty.programs import (
    get_program,
    program_ids,
    projected_tier,
    require_program,
    subledger_known,
    tier_block,
)
from simulator.talonone.service.loyalty_ledger import (
    Balance,
    Owner,
    available,
    ledger_exists,
    lock_ledgers,
)
from simulator.talonone.service.profile_store import profile_exists


def profile_known(
    db: Store | fastsql.Lease, tenant_id: str, program_id: int, profile_id: str
) -> bool:
    """A profile exists for the loyalty endpoints if it has a ledger here or it is stored (two
    indexed lookups, prepared)."""
    if ledger_exists(db, tenant_id, Owner(program_id, profile_id=profile_id)):
        return True
    return profile_exists(db, tenant_id, profile_id)


def require_profile(
    db: Store | fastsql.Lease, tenant_id: str, program_id: int, profile_id: str
) -> Owner:
    if not profile_known(db, tenant_id, program_id, profile_id):
        raise profile_not_found(profile_id)
    return Owner(program_id, profile_id=profile_id)


def profile_not_found(profile_id: str) -> TalonOneError:
    return TalonOneError(
        404,
        f"Customer profile {profile_id} not found",
        parameter="integrationId",
        title="Not found",
    )


def known_profile_balances(
    db: Store | fastsql.Lease,
    tenant_id: str,
    now: datetime,
    owner: Owner,
    end_date: datetime | None,
) -> dict[str, Balance]:
    """The profile's balances `balances_at` answers; 404 for a profile that is neither stored
    nor holding a ledger of the program (`require_profile`). In the present the ledger rows the
    balances read say whether it holds one: one read fewer than asking first."""
    if end_date is not None and end_date < now:
        require_profile(db, tenant_id, owner.program_id, owner.profile_id)
        return balances_at(db, tenant_id, owner, now, end_date)
    found = balances_at(db, tenant_id, owner, now, end_date)
    if not found and not profile_exists(db, tenant_id, owner.profile_id):
        raise profile_not_found(owner.profile_id)
    return found


def profile_balances(
    db: Store | fastsql.Lease,
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
    (or only the one asked for); tiers from the main ledger. Prepared statements only: a
    read-only lease serves it (GetLoyaltyBalances)."""
    program = require_program(db, tenant_id, program_id, card_based=False)
    owner = Owner(program_id, profile_id=profile_id)
    found = known_profile_balances(db, tenant_id, now, owner, end_date)
    if subledger is not None and subledger != "":
        if not subledger_known(program, subledger):
            raise TalonOneError(
                400,
                f"Subledger {subledger} not found",
                parameter="subledgerId",
                title="Invalid value",
            )
        return {"subledgerBalances": {subledger: found.get(subledger, Balance()).as_api()}}
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
    db: Store,
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


LEDGERS = TalonLoyaltyLedger.__table__
# The profile's profile-based programs and when it joined each (built once, run on the DBAPI
# cursor: core/fastsql).
JOINED_PROGRAMS = fastsql.prepared(
    select(LEDGERS.c.program_id, func.min(LEDGERS.c.joined))
    .where(
        LEDGERS.c.tenant_id == bindparam("tenant"),
        LEDGERS.c.profile_id == bindparam("profile"),
        LEDGERS.c.card_identifier == "",
    )
    .group_by(LEDGERS.c.program_id),
    autoflush=True,
)


def profile_loyalty_block(
    db: Store | fastsql.Lease, tenant_id: str, now: datetime, profile_id: str
) -> dict:
    """The `loyalty` block of a profile: its profile-based programs and its linked cards."""
    parameters = {"tenant": tenant_id, "profile": profile_id}
    joined = fastsql.execute(db, JOINED_PROGRAMS, parameters).all()
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
        block["cards"] = [card_view(db, tenant_id, card, now, links) for card, links in cards]
    return block


def delete_profile_data(db: Store, tenant_id: str, profile_id: str) -> None:
    """Remove the profile's ledgers, lots, transactions and card links.

    The tenant's programs are named (rows are posted only to a program that exists, and
    programs go only with all of the tenant's data), though the profile's rows could be found
    without them: every owner index starts (tenant_id, program_id, profile_id), and without
    the program SQLite walks the tenant's every lot, transaction and movement."""
    programs = program_ids(db, tenant_id)

    def of_profile(table: Any) -> tuple[Any, ...]:
        return (
            table.tenant_id == tenant_id,
            table.program_id.in_(programs),
            table.profile_id == profile_id,
            table.card_identifier == "",
        )

    transaction_ids = select(TalonLoyaltyTransaction.id).where(*of_profile(TalonLoyaltyTransaction))
    db.execute(
        delete(TalonLoyaltySpend).where(
            TalonLoyaltySpend.tenant_id == tenant_id,
            TalonLoyaltySpend.transaction_id.in_(transaction_ids),
        )
    )
    for table in (
        TalonLoyaltyMovement,
        TalonLoyaltyLot,
        TalonLoyaltyTransaction,
        TalonLoyaltyLedger,
    ):
        db.execute(delete(table).where(*of_profile(table)))
    # The profile's open sessions, and with them their tentative figures, go with the profile.
    db.execute(
        delete(TalonLoyaltyCardProfile).where(
            TalonLoyaltyCardProfile.tenant_id == tenant_id,
            TalonLoyaltyCardProfile.profile_id == profile_id,
        )
    )
