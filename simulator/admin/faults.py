"""Admin API for fault rules: GET / POST / DELETE /__admin/faults (global or per tenant)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from simulator.core import faults
from simulator.core.db import get_session
from simulator.core.faults import PROFILES, FaultError, FaultRule
from simulator.core.formats import json_response
from simulator.core.storable import JsonRefused, read_json, within
from simulator.core.store import unit_of_work

router = APIRouter(prefix="/__admin", tags=["faults"])
RuleId = Annotated[int, within(FaultRule.id)]  # beyond its column: no such rule (404)


def refused(exc: FaultError) -> Response:
    return json_response({"error": "fault rule refused", **exc.as_dict()}, status=400)


@router.get("/faults")
async def list_faults(
    tenant: str | None = Query(default=None, max_length=64),
    session: Session = Depends(get_session),
) -> Response:
    """Every rule (or a tenant's), each with its hit count, and the named profiles."""
    rows = faults.list_rules(session, tenant)
    return json_response(
        {
            "faults": [faults.rule_view(row) for row in rows],
            "profiles": {name: p["description"] for name, p in PROFILES.items()},
        }
    )


@router.get("/faults/{rule_id}")
async def get_fault(
    rule_id: RuleId, request: Request, session: Session = Depends(get_session)
) -> Response:
    faults.flush_hits(request.app.state.engine)
    row = session.get(FaultRule, rule_id)
    if row is None:
        raise HTTPException(404, f"no fault rule {rule_id}")
    return json_response(faults.rule_view(row))


@router.post("/faults", status_code=201)
async def add_faults(request: Request, session: Session = Depends(get_session)) -> Response:
    """A rule, a profile (`{"profile": "flaky", "tenant"?: ..., "api"?: ...}`), a list of them,
    or `{"faults": [...]}`. All or nothing: one refused rule stores none."""
    try:
        document: Any = read_json(await request.body() or b"null")
    except JsonRefused as exc:
        return json_response({"error": f"body is not JSON: {exc}"}, status=400)
    if document is None:
        return json_response({"error": "body required: a rule, a profile or a list"}, status=400)
    try:
        with unit_of_work(session):
            rules = faults.parse_document(document)
            if not rules:
                raise FaultError("", "no rules given")
            source = f"profile:{document['profile']}" if _is_profile(document) else "admin"
            rows = faults.add_rules(session, rules, source=source)
    except FaultError as exc:
        return refused(exc)
    faults.invalidate()
    return json_response({"faults": [faults.rule_view(row) for row in rows]}, status=201)


def _is_profile(document: Any) -> bool:
    return isinstance(document, dict) and "profile" in document


@router.delete("/faults")
async def delete_faults(
    tenant: str | None = Query(default=None, max_length=64),
    session: Session = Depends(get_session),
) -> Response:
    """Every rule, or only those of `?tenant=`."""
    with unit_of_work(session):
        deleted = faults.delete_rules(session, tenant_id=tenant)
    faults.invalidate()
    return json_response({"deleted": deleted})


@router.delete("/faults/{rule_id}", status_code=204)
async def delete_fault(rule_id: RuleId, session: Session = Depends(get_session)) -> Response:
    with unit_of_work(session):
        deleted = faults.delete_rules(session, rule_id=rule_id)
    faults.invalidate()
    if not deleted:
        raise HTTPException(404, f"no fault rule {rule_id}")
    return Response(status_code=204)
