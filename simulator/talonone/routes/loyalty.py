"""Talon.One routes: loyalty part (balances, points, transactions, cards).

Query parameters are read by hand from the query string so that repeated array parameters and
bad values get Talon.One's own 400 naming the parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.admindeps import path_tenant
from simulator.core.clock import parse_instant, tenant_now
from simulator.core.db import get_session, new_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import (
    MAX_AMOUNT,
    ROW_COUNT,
    JsonRefused,
    StoredText,
    length_of,
    parse_int,
    read_json,
    within,
)
from simulator.talonone.auth import talonone_tenant, talonone_tenant_of
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.loyalty import TalonLoyaltyProgram, TalonLoyaltyTransaction
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.service import loyalty, loyalty_fixtures
from simulator.talonone.service.loyalty import LoyaltyError, Page

router = APIRouter(tags=["talonone"])

POINT_STATUSES = ("active", "pending", "expired")
POINT_SORTS = ("startDate", "-startDate", "expiryDate", "-expiryDate")
TRANSACTION_TYPES = ("manual", "session", "import")
# The spec gives array query parameters no maximum; each becomes one IN list of a query.
MAX_VALUES = 1000


def bad_parameter(name: str, message: str) -> TalonOneError:
    return TalonOneError(400, message, title="Invalid parameter", parameter=name)


def as_api_error(error: LoyaltyError) -> TalonOneError:
    extra: dict[str, Any] = {}
    if error.parameter is not None:
        extra["parameter"] = error.parameter
    if error.pointer is not None:
        extra["pointer"] = error.pointer
    titles = {404: "Not found", 400: "Bad request"}
    return TalonOneError(
        error.status, error.message, title=titles.get(error.status, "Error"), **extra
    )


def program_id_of(raw: str) -> int:
    """ASCII digits; a number beyond the store's range names no program (404, as any unknown
    one: core/storable `lookup`)."""
    program_id = parse_int(raw)
    if program_id is None:
        raise bad_parameter("loyaltyProgramId", "loyaltyProgramId must be an integer")
    return program_id


def card_id_of(raw: str) -> str:
    if not 4 <= len(raw) <= 108:
        raise bad_parameter("loyaltyCardId", "loyaltyCardId must be 4 to 108 characters")
    return raw


class Query:
    """The query string of one request, with typed, validated readers."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    def text(self, name: str) -> str | None:
        return self.params.get(name)

    def many(self, name: str) -> list[str] | None:
        """A repeated parameter's values (filters of one IN list each: at most MAX_VALUES)."""
        values = self.params.getlist(name)
        if len(values) > MAX_VALUES:
            raise bad_parameter(name, f"{name} takes at most {MAX_VALUES} values")
        return values or None

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise bad_parameter(name, f"{name} must be true or false")

    def instant(self, name: str) -> datetime | None:
        value = self.params.get(name)
        if value is None:
            return None
        try:
            return parse_instant(value.replace(" ", "+"))
        except ValueError:
            raise bad_parameter(name, f"{name} must be an RFC3339 timestamp") from None

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.params.get(name, default)
        if value is not None and value not in allowed:
            raise bad_parameter(name, f"{name} must be one of the following: {', '.join(allowed)}")
        return value

    def page(self) -> Page:
        size = self.integer("pageSize", loyalty.DEFAULT_PAGE_SIZE)
        if not 1 <= size <= 1000:
            raise bad_parameter("pageSize", "pageSize must be between 1 and 1000")
        skip = self.integer("skip", 0)
        if skip < 0:
            raise bad_parameter("skip", "skip must not be negative")
        if not ROW_COUNT.holds(skip):
            raise bad_parameter("skip", f"skip must be at most {ROW_COUNT.high}")
        return Page(size=size, skip=skip)

    def integer(self, name: str, default: int) -> int:
        value = self.params.get(name)
        if value is None:
            return default
        number = parse_int(value)
        if number is None:
            raise bad_parameter(name, f"{name} must be an integer")
        return number


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = read_json(raw)
    except JsonRefused as refused:
        raise TalonOneError(
            400, refused.reason, title="Invalid JSON", pointer=refused.pointer
        ) from None
    if not isinstance(body, dict):
        raise TalonOneError(400, "The request body must be a JSON object", pointer="/")
    return body


def run(db: Session, action: Any) -> Any:
    """Call the service; LoyaltyError becomes the API's error, a write is committed."""
    try:
        result = action()
    except LoyaltyError as error:
        db.rollback()
        raise as_api_error(error) from None
    return result


# --- profile-based programs ------------------------------------------------------------------


def points_of(
    session: Session, tenant: Tenant, owner: Any, query: Any, status: Any, sort: Any, page: Any
) -> dict:
    """The points list of a profile or a card: the same filters for both endpoints."""
    return loyalty.points_list(
        session,
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
    FastAPI to solve; the key is checked first, as the dependency did."""
    with new_session(request.app.state.engine) as session:
        tenant = talonone_tenant_of(request, session)
        query = Query(request)
        program_id = program_id_of(loyaltyProgramId)
        end_date = query.instant("endDate")
        subledger = query.text("subledgerId")
        include_tiers = query.boolean("includeTiers")
        include_projected = query.boolean("includeProjectedTier")
        body = run(
            session,
            lambda: loyalty.profile_balances(
                session,
                tenant.id,
                tenant_now(tenant),
                program_id=program_id,
                profile_id=integrationId,
                end_date=end_date,
                subledger=subledger,
                include_tiers=include_tiers,
                include_projected_tier=include_projected,
            ),
        )
    return json_response(body)


@OPERATIONS.route(router, "GetLoyaltyProgramProfilePoints")
async def get_loyalty_program_profile_points(
    loyaltyProgramId: str,
    integrationId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    query = Query(request)
    program_id = program_id_of(loyaltyProgramId)
    status = query.choice("status", POINT_STATUSES, "active")
    sort = query.choice("sort", POINT_SORTS)
    page = query.page()

    def action() -> dict:
        loyalty.require_program(session, tenant.id, program_id, card_based=False)
        owner = loyalty.require_profile(session, tenant.id, program_id, integrationId)
        return points_of(session, tenant, owner, query, status, sort, page)

    return json_response(run(session, action))


@OPERATIONS.route(router, "GetLoyaltyProgramProfileTransactions")
async def get_loyalty_program_profile_transactions(
    loyaltyProgramId: str,
    integrationId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    query = Query(request)
    program_id = program_id_of(loyaltyProgramId)
    filters = transaction_filters(query)

    def action() -> dict:
        loyalty.require_program(session, tenant.id, program_id, card_based=False)
        owner = loyalty.require_profile(session, tenant.id, program_id, integrationId)
        return loyalty.transactions_list(session, tenant.id, owner, tenant_now(tenant), **filters)

    return json_response(run(session, action))


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
        "page": query.page(),
    }


# --- cards ---------------------------------------------------------------------------------


@OPERATIONS.route(router, "GenerateLoyaltyCard")
async def generate_loyalty_card(
    loyaltyProgramId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    program_id = program_id_of(loyaltyProgramId)
    body = await json_body(request)
    status = body.get("status", "active")
    profiles = body.get("customerProfileIds") or []
    identifier = body.get("cardIdentifier")
    if not isinstance(status, str):
        raise TalonOneError(400, "status must be a string", pointer="/status")
    if not isinstance(profiles, list):
        raise TalonOneError(
            400, "customerProfileIds must be an array of strings", pointer="/customerProfileIds"
        )
    if identifier is not None and not isinstance(identifier, str):
        raise TalonOneError(400, "cardIdentifier must be a string", pointer="/cardIdentifier")
    seed = request.app.state.settings.seed
    now = tenant_now(tenant)

    def action() -> dict:
        card = loyalty.generate_card(
            session,
            tenant.id,
            now,
            seed,
            program_id=program_id,
            status=status,
            profile_ids=profiles,
            identifier=identifier,
        )
        view = loyalty.card_view(session, tenant.id, card, now)
        session.commit()
        return view

    return json_response(run(session, action))


@OPERATIONS.route(router, "LinkLoyaltyCardToProfile")
async def link_loyalty_card_to_profile(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    program_id = program_id_of(loyaltyProgramId)
    identifier = card_id_of(loyaltyCardId)
    body = await json_body(request)
    profile_id = body.get("integrationId")
    if not isinstance(profile_id, str) or not profile_id:
        raise TalonOneError(
            400,
            "integrationId is required and must be a non-empty string",
            pointer="/integrationId",
        )
    now = tenant_now(tenant)

    def action() -> dict:
        card = loyalty.link_card(
            session,
            tenant.id,
            now,
            program_id=program_id,
            identifier=identifier,
            profile_id=profile_id,
        )
        view = loyalty.card_view(session, tenant.id, card, now)
        session.commit()
        return view

    return json_response(run(session, action))


@OPERATIONS.route(router, "GetLoyaltyCardBalances")
async def get_loyalty_card_balances(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    query = Query(request)
    program_id = program_id_of(loyaltyProgramId)
    identifier = card_id_of(loyaltyCardId)
    end_date = query.instant("endDate")
    subledgers = query.many("subledgerId")
    body = run(
        session,
        lambda: loyalty.card_balances(
            session,
            tenant.id,
            tenant_now(tenant),
            program_id=program_id,
            identifier=identifier,
            end_date=end_date,
            subledgers=subledgers,
        ),
    )
    return json_response(body)


@OPERATIONS.route(router, "GetLoyaltyCardPoints")
async def get_loyalty_card_points(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    query = Query(request)
    program_id = program_id_of(loyaltyProgramId)
    identifier = card_id_of(loyaltyCardId)
    status = query.choice("status", POINT_STATUSES, "active")
    sort = query.choice("sort", POINT_SORTS)
    page = query.page()

    def action() -> dict:
        _program, card = loyalty.require_card(session, tenant.id, program_id, identifier)
        owner = loyalty.Owner(program_id, card_identifier=card.identifier)
        return points_of(session, tenant, owner, query, status, sort, page)

    return json_response(run(session, action))


@OPERATIONS.route(router, "GetLoyaltyCardTransactions")
async def get_loyalty_card_transactions(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    query = Query(request)
    program_id = program_id_of(loyaltyProgramId)
    identifier = card_id_of(loyaltyCardId)
    filters = transaction_filters(query)

    def action() -> dict:
        _program, card = loyalty.require_card(session, tenant.id, program_id, identifier)
        owner = loyalty.Owner(program_id, card_identifier=card.identifier)
        return loyalty.transactions_list(session, tenant.id, owner, tenant_now(tenant), **filters)

    return json_response(run(session, action))


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
    try:
        row = loyalty.manual_points(
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
    except LoyaltyError as error:
        session.rollback()
        raise HTTPException(error.status, error.message) from None
    session.commit()
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
