"""A tenant's ECDP settings, attribute and consent definitions: what a batch is checked against
and what GetCustomerAttributes / GetCustomerConsents list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from simulator.core.store import Store
from simulator.ecdp.models import EcdpAttribute, EcdpConsent, EcdpSettings


@dataclass
class AttributeDefinition:
    id: int
    name: str
    type: str
    options: list[str]


@dataclass
class Definitions:
    """The tenant's settings and definitions a batch is checked against."""

    default_identification_field: str | None
    attributes: dict[str, AttributeDefinition]  # by lower-case name
    consents: dict[int, str]  # id -> type


def load_definitions(session: Store, tenant_id: str) -> Definitions:
    settings = session.get(EcdpSettings, tenant_id)
    attributes = session.execute(
        select(EcdpAttribute).where(EcdpAttribute.tenant_id == tenant_id)
    ).scalars()
    consents = session.execute(
        select(EcdpConsent.id, EcdpConsent.type).where(EcdpConsent.tenant_id == tenant_id)
    ).all()
    return Definitions(
        default_identification_field=settings.default_identification_field if settings else None,
        attributes={
            a.name_key: AttributeDefinition(a.id, a.name, a.type, json.loads(a.options))
            for a in attributes
        },
        consents={cid: ctype for cid, ctype in consents},
    )


def list_attributes(session: Store, tenant_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(EcdpAttribute.id, EcdpAttribute.name, EcdpAttribute.type)
        .where(EcdpAttribute.tenant_id == tenant_id)
        .order_by(EcdpAttribute.id)
    ).all()
    return [{"id": i, "name": n, "type": t} for i, n, t in rows]


def list_consents(session: Store, tenant_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(EcdpConsent.id, EcdpConsent.name, EcdpConsent.type)
        .where(EcdpConsent.tenant_id == tenant_id)
        .order_by(EcdpConsent.id)
    ).all()
    return [{"id": i, "name": n, "type": t} for i, n, t in rows]
