"""The Inspector's paged reads of Talon.One: profiles, a loyalty ledger with its lots and its
balance over time, coupons with their reservations, referrals and audiences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import case, func, or_, select
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.admindeps import Paging, paging, path_tenant
from simulator.core.clock import format_instant, tenant_now
from simulator.core.db import contains, get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import within
from simulator.talonone.models import (
    TalonAudience,
    TalonAudienceMembership,
    TalonCoupon,
    TalonCouponReservation,
    TalonLoyaltyLot,
    TalonLoyaltyProgram,
    TalonLoyaltyTransaction,
    TalonProfile,
    TalonReferral,
)

router = APIRouter(prefix="/__admin/tenants/{tenant_id}/talonone", tags=["admin: talonone"])

Text = Annotated[str | None, Query(max_length=1000)]
# The points a balance chart shows: the owner's newest transactions (the balance before them
# is the total less what they added).
HISTORY_POINTS = 200


def instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


@router.get("/profiles")
async def list_profiles(
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
    q: Text = None,
) -> Response:
    """Customer profiles, newest first (`q`: a part of the integration id)."""
    statement = select(TalonProfile).where(TalonProfile.tenant_id == tenant.id)
    if q:
        statement = statement.where(contains(TalonProfile.integration_id, q))
    rows = session.execute(
        statement.order_by(TalonProfile.id.desc()).offset(page.start).limit(page.limit)
    ).scalars()
    return json_response(
        {
            "profiles": [
                {
                    "id": p.id,
                    "integrationId": p.integration_id,
                    "attributes": p.attributes or {},
                    "closedSessions": p.closed_sessions,
                    "totalSales": p.total_sales,
                    "created": instant(p.created),
                    "lastActivity": instant(p.last_activity),
                }
                for p in rows
            ],
            "start": page.start,
        }
    )


# --- a loyalty ledger ---------------------------------------------------------------------


def owner_conditions(
    tenant_id: str, program_id: int, profile_id: str | None, card: str | None, subledger: str
) -> list[Any]:
    """The rows of one ledger: a card's (any profile) or a profile's own (no card)."""
    lot = TalonLoyaltyLot
    conditions = [lot.tenant_id == tenant_id, lot.program_id == program_id]
    if card:
        conditions.append(lot.card_identifier == card)
    else:
        conditions += [lot.profile_id == profile_id, lot.card_identifier == ""]
    conditions.append(lot.subledger_id == subledger)
    return conditions


def lot_state(lot: TalonLoyaltyLot, ts: float) -> str:
    """pending (not started), expired, spent (nothing left), or active: at the instant `ts`."""
    if lot.start_ts > ts:
        return "pending"
    if lot.expiry_ts <= ts:
        return "expired"
    return "spent" if lot.remaining <= 0 else "active"


def lot_view(lot: TalonLoyaltyLot, ts: float) -> dict[str, Any]:
    return {
        "id": lot.id,
        "name": lot.name,
        "status": lot_state(lot, ts),
        "amount": lot.amount,
        "remaining": lot.remaining,
        "spent": round(lot.amount - lot.remaining - lot.revoked, 6),
        "revoked": lot.revoked,
        "onAction": lot.on_action,
        "start": instant(lot.start_at) or lot.start_text,
        "expiry": instant(lot.expiry_at) or lot.expiry_text,
        "sessionId": lot.session_id,
        "created": instant(lot.created),
    }


def lot_totals(session: Session, conditions: list[Any], ts: float) -> dict[str, float]:
    """The owner's points by state at `ts`, in one aggregate over the covering index."""
    lot = TalonLoyaltyLot
    pending = lot.start_ts > ts
    expired = lot.expiry_ts <= ts
    row = session.execute(
        select(
            func.coalesce(func.sum(case((pending, lot.remaining), else_=0)), 0),
            func.coalesce(func.sum(case((expired & ~pending, lot.remaining), else_=0)), 0),
            func.coalesce(func.sum(case((~pending & ~expired, lot.remaining), else_=0)), 0),
            func.coalesce(func.sum(lot.amount - lot.remaining - lot.revoked), 0),
            func.count(),
        ).where(*conditions)
    ).one()
    return {
        "pending": float(row[0]),
        "expired": float(row[1]),
        "active": float(row[2]),
        "spent": float(row[3]),
        "lots": int(row[4]),
    }


def balance_history(
    session: Session,
    tenant_id: str,
    program_id: int,
    profile_id: str | None,
    card: str | None,
    subledger: str,
) -> list[dict[str, Any]]:
    """The ledger's running total (additions less deductions) after each of its newest
    transactions, oldest first: what the balance chart draws on the tenant's clock."""
    tx = TalonLoyaltyTransaction
    conditions = [tx.tenant_id == tenant_id, tx.program_id == program_id]
    if card:
        conditions.append(tx.card_identifier == card)
    else:
        conditions += [tx.profile_id == profile_id, tx.card_identifier == ""]
    conditions.append(tx.subledger_id == subledger)
    signed = case((tx.type == "subtraction", -tx.amount), else_=tx.amount)
    total = session.execute(select(func.coalesce(func.sum(signed), 0)).where(*conditions)).scalar()
    newest = session.execute(
        select(tx.created, signed).where(*conditions).order_by(tx.id.desc()).limit(HISTORY_POINTS)
    ).all()
    points = []
    running = float(total or 0)
    for created, amount in newest:
        points.append({"time": format_instant(created), "balance": round(running, 6)})
        running -= float(amount)
    points.reverse()
    return points


@router.get("/loyalty/programs/{program_id}/ledger")
async def ledger(
    program_id: Annotated[int, within(TalonLoyaltyProgram.id)],
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
    profileId: Text = None,  # noqa: N803
    cardIdentifier: Text = None,  # noqa: N803
    subledgerId: Annotated[str, Query(max_length=64)] = "",  # noqa: N803
    status: Annotated[str | None, Query(pattern="^(pending|active|expired|spent)$")] = None,
) -> Response:
    """A profile's (or a card's) ledger: its points by state on the tenant's clock, its lots
    (newest first, `status` filters), its program's tiers and its balance over time."""
    program = session.get(TalonLoyaltyProgram, (tenant.id, program_id))
    if program is None:
        raise HTTPException(404, f"no loyalty program {program_id}")
    if not profileId and not cardIdentifier:
        raise HTTPException(400, "give profileId or cardIdentifier")
    now = tenant_now(tenant)
    ts = now.timestamp()
    conditions = owner_conditions(tenant.id, program_id, profileId, cardIdentifier, subledgerId)
    lot = TalonLoyaltyLot
    chosen = {
        "pending": [lot.start_ts > ts],
        "expired": [lot.start_ts <= ts, lot.expiry_ts <= ts],
        "active": [lot.start_ts <= ts, lot.expiry_ts > ts, lot.remaining > 0],
        "spent": [lot.start_ts <= ts, lot.expiry_ts > ts, lot.remaining <= 0],
    }.get(status or "", [])
    lots = session.execute(
        select(lot)
        .where(*conditions, *chosen)
        .order_by(lot.id.desc())
        .offset(page.start)
        .limit(page.limit)
    ).scalars()
    return json_response(
        {
            "program": {
                "id": program.id,
                "name": program.name,
                "title": program.title,
                "cardBased": program.card_based,
                "tiers": program.tiers or [],
            },
            "profileId": None if cardIdentifier else profileId,
            "cardIdentifier": cardIdentifier or None,
            "subledgerId": subledgerId,
            "now": format_instant(now),
            "totals": lot_totals(session, conditions, ts),
            "lots": [lot_view(row, ts) for row in lots],
            "start": page.start,
            "history": balance_history(
                session, tenant.id, program_id, profileId, cardIdentifier, subledgerId
            ),
        }
    )


# --- coupons, referrals, audiences --------------------------------------------------------


@router.get("/coupons")
async def list_coupons(
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
    q: Text = None,
) -> Response:
    """Coupons, newest first (`q`: a part of the code), each with the profiles holding a
    reservation."""
    statement = select(TalonCoupon).where(TalonCoupon.tenant_id == tenant.id)
    if q:
        statement = statement.where(contains(TalonCoupon.value, q))
    coupons = list(
        session.execute(
            statement.order_by(TalonCoupon.id.desc()).offset(page.start).limit(page.limit)
        ).scalars()
    )
    reserved: dict[int, list[str]] = {c.id: [] for c in coupons}
    if coupons:
        rows = session.execute(
            select(
                TalonCouponReservation.coupon_id, TalonCouponReservation.profile_integration_id
            ).where(
                TalonCouponReservation.tenant_id == tenant.id,
                TalonCouponReservation.coupon_id.in_(list(reserved)),
            )
        ).all()
        for coupon_id, profile_id in rows:
            reserved[coupon_id].append(profile_id)
    return json_response(
        {
            "coupons": [
                {
                    "id": c.id,
                    "campaignId": c.campaign_id,
                    "value": c.value,
                    "usageCounter": c.usage_counter,
                    "usageLimit": c.usage_limit,
                    "recipientIntegrationId": c.recipient_integration_id,
                    "startDate": instant(c.start_date),
                    "expiryDate": instant(c.expiry_date),
                    "reservations": sorted(reserved[c.id]),
                }
                for c in coupons
            ],
            "start": page.start,
        }
    )


@router.get("/referrals")
async def list_referrals(
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
    q: Text = None,
) -> Response:
    """Referral codes, newest first (`q`: a part of the code or the advocate's id)."""
    statement = select(TalonReferral).where(TalonReferral.tenant_id == tenant.id)
    if q:
        statement = statement.where(
            or_(
                contains(TalonReferral.code, q),
                contains(TalonReferral.advocate_profile_integration_id, q),
            )
        )
    rows = session.execute(
        statement.order_by(TalonReferral.id.desc()).offset(page.start).limit(page.limit)
    ).scalars()
    return json_response(
        {
            "referrals": [
                {
                    "id": r.id,
                    "campaignId": r.campaign_id,
                    "code": r.code,
                    "advocateProfileIntegrationId": r.advocate_profile_integration_id,
                    "friendProfileIntegrationId": r.friend_profile_integration_id,
                    "usageCounter": r.usage_counter,
                    "usageLimit": r.usage_limit,
                    "expiryDate": instant(r.expiry_date),
                }
                for r in rows
            ],
            "start": page.start,
        }
    )


@router.get("/audiences")
async def list_audiences(
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
) -> Response:
    """Audiences with how many profiles each holds."""
    members = (
        select(func.count())
        .where(
            TalonAudienceMembership.tenant_id == TalonAudience.tenant_id,
            TalonAudienceMembership.audience_id == TalonAudience.id,
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(TalonAudience, members)
        .where(TalonAudience.tenant_id == tenant.id)
        .order_by(TalonAudience.id)
        .offset(page.start)
        .limit(page.limit)
    ).all()
    return json_response(
        {
            "audiences": [
                {
                    "id": a.id,
                    "name": a.name,
                    "integration": a.integration,
                    "integrationId": a.integration_id,
                    "members": count,
                    "created": instant(a.created),
                }
                for a, count in rows
            ],
            "start": page.start,
        }
    )
