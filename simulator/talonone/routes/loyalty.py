"""Talon.One routes: loyalty part (balances, points, transactions, cards).

Query parameters are read from the query string with talonone/parsing's `Query`, so that
repeated array parameters and bad values get Talon.One's own 400 naming the parameter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session
from starlette.responses import Response

from simulator.core import fastsql
from simulator.core.admindeps import path_tenant
from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import MAX_AMOUNT, StoredText, length_of, read_json, within
from simulator.core.store import unit_of_work
from simulator.talonone.auth import talonone_tenant, talonone_tenant_of
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.loyalty import TalonLoyaltyProgram, TalonLoyaltyTransaction
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import (
    Query,
    bad_parameter,
    expect_list,
    expect_str,
    invalid,
    object_body,
    path_int,
)
from simulator.talonone.service import loyalty_fixtures
from simulator.talonone.service.loyalty.balances import profile_balances, require_profile
from simulator.talonone.service.loyalty.cards import (
    card_balances,
    card_to_read,
    card_view,
    generate_card,
    link_card,
)
from simulator.talonone.service.loyalty.history import (
    DEFAULT_PAGE_SIZE,
    Page,
    points_list,
    transactions_list,
)
from simulator.talonone.service.loyalty.manual import manual_points
from simulator.talonone.service.loyalty.programs import require_program
from simulator.talonone.service.loyalty_ledger import Owner

router = APIRouter(tags=["talonone"])

POINT_STATUSES = ("active", "pending", "expired")
POINT_SORTS = ("startDate", "-startDate", "expiryDate", "-expiryDate")
TRANSACTION_TYPES = ("manual", "session", "import")


def card_id_of(raw: str) -> str:
    if not 4 <= len(raw) <= 108:
        raise bad_parameter("loyaltyCardId", "loyaltyCardId must be 4 to 108 characters")
    return raw


def page_of(query: Query) -> Page:
    size, skip = query.page(DEFAULT_PAGE_SIZE)
    return Page(size=size, skip=skip)


# --- profile-based programs ------------------------------------------------------------------


def points_of(
    db: fastsql.Lease,
    tenant: Tenant,
    owner: Any,
    query: Any,
    status: Any,
    sort: Any,
    page: Any,
) -> dict:
    """The points list of a profile or a card: the same filters for both endpoints."""
    return points_list(
        db,
        tenant.id,
        owner,
        tenant_now(tenant),
        status=status or "active",
        subledgers=query.many("subledgerId"),
        session_ids=query.many("customerSessionIDs"),
        transaction_uuids=query.many("transactionUUIDs"),
        sort=sort,
        page=page,
    )


@OPERATIONS.route(router, "GetLoyaltyBalances")
async def get_loyalty_balances(
    loyaltyProgramId: str, integrationId: str, request: Request
) -> Response:
    """A plain endpoint (core/dispatch's fast lane, as the other hot reads): no dependency for
    FastAPI to solve; the key is checked first, as the dependency did. A read-only lease: the
    balance statements are prepared ones (no ORM Session)."""
    with fastsql.lease(request.app.state.engine) as session:
        tenant = talonone_tenant_of(request, session)
        query = Query(request.query_params)
        program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
        end_date = query.instant("endDate")
        subledger = query.text("subledgerId")
        include_tiers = query.boolean("includeTiers")
        include_projected = query.boolean("includeProjectedTier")
        body = profile_balances(
            session,
            tenant.id,
            tenant_now(tenant),
            program_id=program_id,
            profile_id=integrationId,
            end_date=end_date,
            subledger=subledger,
            include_tiers=include_tiers,
            include_projected_tier=include_projected,
        )
    return json_response(body)


@OPERATIONS.route(router, "GetLoyaltyProgramProfilePoints")
async def get_loyalty_program_profile_points(
    loyaltyProgramId: str,
    integrationId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        query = Query(request.query_params)
        program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
        status = query.choice("status", POINT_STATUSES, "active")
        sort = query.choice("sort", POINT_SORTS)
        page = page_of(query)

        require_program(db, tenant.id, program_id, card_based=False)
        owner = require_profile(db, tenant.id, program_id, integrationId)
        return json_response(points_of(db, tenant, owner, query, status, sort, page))


@OPERATIONS.route(router, "GetLoyaltyProgramProfileTransactions")
async def get_loyalty_program_profile_transactions(
    loyaltyProgramId: str,
    integrationId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        query = Query(request.query_params)
        program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
        filters = transaction_filters(query)

        require_program(db, tenant.id, program_id, card_based=False)
        owner = require_profile(db, tenant.id, program_id, integrationId)
        return json_response(transactions_list(db, tenant.id, owner, tenant_now(tenant), **filters))


def transaction_filters(query: Query) -> dict[str, Any]:
    awaits = query.boolean("awaitsActivation", False)
    if query.text("awaitsActivation") is not None and not awaits:
        raise bad_parameter("awaitsActivation", "awaitsActivation can only be true")
    return {
        "subledgers": query.many("subledgerId"),
        "kind": query.choice("loyaltyTransactionType", TRANSACTION_TYPES),
        "start_date": query.instant("startDate"),
        "end_date": query.instant("endDate"),
        "session_ids": query.many("customerSessionIDs"),
        "transaction_uuids": query.many("transactionUUIDs"),
        "awaits_activation": awaits,
        "page": page_of(query),
    }


# --- cards ---------------------------------------------------------------------------------


@OPERATIONS.route(router, "GenerateLoyaltyCard")
async def generate_loyalty_card(
    loyaltyProgramId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
    body = object_body(await request.body())
    status = expect_str(body.get("status", "active"), "/status")
    profiles = expect_list(body.get("customerProfileIds") or [], "/customerProfileIds")
    for index, profile in enumerate(profiles):
        expect_str(profile, f"/customerProfileIds/{index}")
    identifier = body.get("cardIdentifier")
    if identifier is not None:
        identifier = expect_str(identifier, "/cardIdentifier")
    seed = request.app.state.settings.seed
    now = tenant_now(tenant)

    with unit_of_work(session):
        card = generate_card(
            session,
            tenant.id,
            now,
            seed,
            program_id=program_id,
            status=status,
            profile_ids=profiles,
            identifier=identifier,
        )
        view = card_view(session, tenant.id, card, now)
    return json_response(view)


@OPERATIONS.route(router, "LinkLoyaltyCardToProfile")
async def link_loyalty_card_to_profile(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
    identifier = card_id_of(loyaltyCardId)
    body = object_body(await request.body())
    if "integrationId" not in body:
        raise invalid("/integrationId", "integrationId is required", "required")
    profile_id = expect_str(body["integrationId"], "/integrationId", min_length=1)
    now = tenant_now(tenant)

    with unit_of_work(session):
        card = link_card(
            session,
            tenant.id,
            now,
            program_id=program_id,
            identifier=identifier,
            profile_id=profile_id,
        )
        view = card_view(session, tenant.id, card, now)
    return json_response(view)


@OPERATIONS.route(router, "GetLoyaltyCardBalances")
async def get_loyalty_card_balances(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        query = Query(request.query_params)
        program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
        identifier = card_id_of(loyaltyCardId)
        end_date = query.instant("endDate")
        subledgers = query.many("subledgerId")
        body = card_balances(
            db,
            tenant.id,
            tenant_now(tenant),
            program_id=program_id,
            identifier=identifier,
            end_date=end_date,
            subledgers=subledgers,
        )
        return json_response(body)


@OPERATIONS.route(router, "GetLoyaltyCardPoints")
async def get_loyalty_card_points(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        query = Query(request.query_params)
        program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
        identifier = card_id_of(loyaltyCardId)
        status = query.choice("status", POINT_STATUSES, "active")
        sort = query.choice("sort", POINT_SORTS)
        page = page_of(query)

        card = card_to_read(db, tenant.id, program_id, identifier)
        owner = Owner(program_id, card_identifier=card.identifier)
        return json_response(points_of(db, tenant, owner, query, status, sort, page))


@OPERATIONS.route(router, "GetLoyaltyCardTransactions")
async def get_loyalty_card_transactions(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        query = Query(request.query_params)
        program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
        identifier = card_id_of(loyaltyCardId)
        filters = transaction_filters(query)

        card = card_to_read(db, tenant.id, program_id, identifier)
        owner = Owner(program_id, card_identifier=card.identifier)
        return json_response(transactions_list(db, tenant.id, owner, tenant_now(tenant), **filters))


# --- admin: inspection and manual points ---------------------------------------------------

admin_router = APIRouter(
    prefix="/__admin/tenants/{tenant_id}/talonone/loyalty",
    tags=["admin: talonone"],
)


@admin_router.get("/programs")
async def admin_list_programs(
    tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    """The tenant's loyalty programs as fixtures describe them, without their ledgers."""
    programs = [
        {key: value for key, value in document.items() if key != "transactions"}
        for document in loyalty_fixtures.export_fixtures(session, tenant).get("loyaltyPrograms", [])
    ]
    return json_response({"loyaltyPrograms": programs})


@admin_router.post("/programs/{program_id}/points")
async def admin_post_points(
    program_id: Annotated[int, within(TalonLoyaltyProgram.id)],
    request: Request,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    """A manual addition or subtraction (`loyaltyTransactionType` manual), as the Management
    API's add/deduct points do: `{profileId | cardIdentifier, subledgerId, type, amount, name,
    startDate, expiryDate}`."""
    try:
        entry = ManualEntry.model_validate(read_json(await request.body()))
    except (ValueError, ValidationError) as error:
        raise HTTPException(400, f"invalid body: {error}") from None
    now = tenant_now(tenant)
    with unit_of_work(session):
        try:
            row = manual_points(
                session,
                tenant.id,
                now,
                program_id=program_id,
                profile_id=entry.profileId,
                card_identifier=entry.cardIdentifier,
                subledger=entry.subledgerId,
                kind=entry.type,
                amount=entry.amount,
                name=entry.name,
                start=entry.startDate,
                expiry=entry.expiryDate,
            )
        except TalonOneError as error:  # the admin API's error shape (the block rolls back)
            raise HTTPException(error.status, error.message) from None
    return json_response(row)


LEDGER = TalonLoyaltyTransaction  # where a manual entry's text is stored


class ManualEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profileId: StoredText | None = Field(None, max_length=length_of(LEDGER.profile_id))
    cardIdentifier: StoredText | None = Field(None, max_length=length_of(LEDGER.card_identifier))
    subledgerId: StoredText = Field("", max_length=length_of(LEDGER.subledger_id))
    type: Literal["addition", "subtraction"] = "addition"
    amount: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False)
    name: StoredText = Field("Manual points", max_length=length_of(LEDGER.name))
    startDate: StoredText | None = Field(None, max_length=length_of(LEDGER.start_text))
    expiryDate: StoredText | None = Field(None, max_length=length_of(LEDGER.expiry_text))
