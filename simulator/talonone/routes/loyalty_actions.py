"""Talon.One routes: the loyalty operations of the current SDK that change a ledger's state
without a session (activating points, deleting a customer's transactions, unlinking a card).

Bodies are read with the loyalty routes' own helpers (`json_body`, `run`), so a malformed one
gets the same 400 as every other loyalty endpoint."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.store import unit_of_work
from simulator.talonone.auth import talonone_tenant
from simulator.talonone.errors import TalonOneError
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import object_body, path_int
from simulator.talonone.routes.loyalty import card_id_of
from simulator.talonone.service.loyalty.activation import activate_points
from simulator.talonone.service.loyalty.cards import card_view
from simulator.talonone.service.loyalty.ledger_edits import (
    SCOPES,
    delete_transactions,
    unlink_card,
)

router = APIRouter(tags=["talonone"])

MAX_UUIDS = 50


def refused(message: str, pointer: str) -> TalonOneError:
    return TalonOneError(400, message, title="Invalid value", pointer=pointer)


def no_other_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """The spec's `additionalProperties: false`."""
    for name in body:
        if name not in allowed:
            raise refused(f"{name} is not a known field", f"/{name}")


def activation_target(body: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    """(sessionId, transactionUUIDs): exactly one of them, valid as the spec describes."""
    no_other_fields(body, ("sessionId", "transactionUUIDs"))
    session_id, uuids = body.get("sessionId"), body.get("transactionUUIDs")
    if (session_id is None) == (uuids is None):
        raise refused("Give either sessionId or transactionUUIDs", "/")
    if session_id is not None:
        if not isinstance(session_id, str) or not session_id:
            raise refused("sessionId must be a non-empty string", "/sessionId")
        return session_id, None
    if not isinstance(uuids, list) or not 1 <= len(uuids) <= MAX_UUIDS:
        raise refused(f"transactionUUIDs must hold 1 to {MAX_UUIDS} UUIDs", "/transactionUUIDs")
    for index, value in enumerate(uuids):
        try:
            uuid.UUID(value)
        except (TypeError, ValueError, AttributeError):
            raise refused("transactionUUIDs must be UUIDs", f"/transactionUUIDs/{index}") from None
    if len(set(uuids)) != len(uuids):
        raise refused("transactionUUIDs must be unique", "/transactionUUIDs")
    return None, uuids


@OPERATIONS.route(router, "ActivateLoyaltyPoints")
async def activate_loyalty_points(
    loyaltyProgramId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
    session_id, uuids = activation_target(object_body(await request.body()))
    now = tenant_now(tenant)

    with unit_of_work(session):
        body = activate_points(
            session,
            tenant.id,
            now,
            program_id=program_id,
            session_id=session_id,
            transaction_uuids=uuids,
        )
    return json_response(body)


@OPERATIONS.route(router, "DeleteLoyaltyTransactionsFromLedgers")
async def delete_loyalty_transactions_from_ledgers(
    loyaltyProgramId: str,
    integrationId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
    body = object_body(await request.body())
    no_other_fields(body, ("scope", "subledgerIds"))
    scope = body.get("scope")
    if scope not in SCOPES:
        raise refused(f"scope must be one of {', '.join(SCOPES)}", "/scope")
    subledger_ids = body.get("subledgerIds")
    if subledger_ids is not None and (
        not isinstance(subledger_ids, list) or not all(isinstance(s, str) for s in subledger_ids)
    ):
        raise refused("subledgerIds must be an array of strings", "/subledgerIds")
    now = tenant_now(tenant)

    with unit_of_work(session):
        delete_transactions(
            session,
            tenant.id,
            now,
            program_id=program_id,
            profile_id=integrationId,
            scope=scope,
            subledger_ids=subledger_ids,
        )
    return Response(status_code=204)


@OPERATIONS.route(router, "UnlinkLoyaltyCardFromProfile")
async def unlink_loyalty_card_from_profile(
    loyaltyProgramId: str,
    loyaltyCardId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    program_id = path_int(loyaltyProgramId, "loyaltyProgramId")
    identifier = card_id_of(loyaltyCardId)
    body = object_body(await request.body())
    profile_id = body.get("integrationId")
    if not isinstance(profile_id, str) or not profile_id:
        raise refused("integrationId is required and must be a non-empty string", "/integrationId")
    now = tenant_now(tenant)

    with unit_of_work(session):
        card = unlink_card(
            session,
            tenant.id,
            now,
            program_id=program_id,
            identifier=identifier,
            profile_id=profile_id,
        )
        view = card_view(session, tenant.id, card, now)
    return json_response(view)
