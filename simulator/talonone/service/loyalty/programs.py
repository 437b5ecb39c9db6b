"""Loyalty programs and their tiers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from simulator.core import fastsql
from simulator.core.formats import number
from simulator.core.storable import range_of
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.loyalty import TalonLoyaltyProgram
from simulator.talonone.service.campaigns import loyalty_program
from simulator.talonone.service.loyalty_ledger import EPSILON, Balance

# --- programs ------------------------------------------------------------------------------

# The ids a program can have, worked out once: a session close asks for each loyalty effect's
# program, and reading the column's type through the model's attribute costs more than the rest.
PROGRAM_IDS = range_of(TalonLoyaltyProgram.id)


def get_program(
    db: Store | fastsql.Lease, tenant_id: str, program_id: int
) -> TalonLoyaltyProgram | None:
    """The program, read-only (shared by requests: see campaigns.loyalty_program); None for an
    id beyond the store's range too (no program has one)."""
    if not PROGRAM_IDS.holds(program_id):
        return None
    return loyalty_program(db, tenant_id, program_id)


def program_ids(db: Store, tenant_id: str) -> set[int]:
    statement = select(TalonLoyaltyProgram.id).where(TalonLoyaltyProgram.tenant_id == tenant_id)
    return set(db.scalars(statement))


def require_program(
    db: Store | fastsql.Lease, tenant_id: str, program_id: int, *, card_based: bool
) -> TalonLoyaltyProgram:
    """404 for an unknown program, 400 when the endpoint is for the other kind of program."""
    program = get_program(db, tenant_id, program_id)
    if program is None:
        raise TalonOneError(
            404,
            f"Loyalty program {program_id} not found",
            parameter="loyaltyProgramId",
            title="Not found",
        )
    if program.card_based != card_based:
        kind = "card-based" if card_based else "profile-based"
        raise TalonOneError(
            400,
            f"Loyalty program {program_id} is not a {kind} loyalty program",
            parameter="loyaltyProgramId",
            title="Invalid value",
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
