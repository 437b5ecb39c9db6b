"""A tenant's ECDP settings, attribute and consent definitions: what a batch is checked against
and what GetCustomerAttributes / GetCustomerConsents list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Table, bindparam, select

from simulator.core import fastsql
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

    @cached_property
    def attribute_order(self) -> dict[str, int]:
        """Attribute name -> its id: the order a customer's attributes are kept in."""
        return {d.name: d.id for d in self.attributes.values()}


# Every upsert reads these three: prepared statements on the DBAPI cursor (core/fastsql), the
# columns only, no ORM objects (through the ORM they were a third of a one-customer upsert).
_TENANT = bindparam("tenant_id")
SETTINGS_OF = fastsql.prepared(
    select(EcdpSettings.default_identification_field).where(EcdpSettings.tenant_id == _TENANT)
)
ATTRIBUTES_OF = fastsql.prepared(
    select(
        EcdpAttribute.name_key,
        EcdpAttribute.id,
        EcdpAttribute.name,
        EcdpAttribute.type,
        EcdpAttribute.options,
    ).where(EcdpAttribute.tenant_id == _TENANT)
)
CONSENTS_OF = fastsql.prepared(
    select(EcdpConsent.id, EcdpConsent.type).where(EcdpConsent.tenant_id == _TENANT)
)
NO_OPTIONS = "[]"


def load_definitions(session: Store, tenant_id: str) -> Definitions:
    parameters = {"tenant_id": tenant_id}
    settings = fastsql.execute(session, SETTINGS_OF, parameters).first()
    attributes = fastsql.execute(session, ATTRIBUTES_OF, parameters)
    consents = fastsql.execute(session, CONSENTS_OF, parameters)
    return Definitions(
        default_identification_field=settings[0] if settings is not None else None,
        attributes={
            key: AttributeDefinition(
                aid, name, kind, [] if options == NO_OPTIONS else json.loads(options)
            )
            for key, aid, name, kind, options in attributes
        },
        consents={cid: ctype for cid, ctype in consents},
    )


def definitions_of(table: Table) -> fastsql.Prepared:
    """A tenant's attribute or consent definitions (id, name, type), by id."""
    return fastsql.prepared(
        select(table.c.id, table.c.name, table.c.type)
        .where(table.c.tenant_id == bindparam("tenant"))
        .order_by(table.c.id)
    )


# Built once, run on the DBAPI cursor (core/fastsql) on the request's read lease.
ATTRIBUTE_DEFINITIONS = definitions_of(EcdpAttribute.__table__)
CONSENT_DEFINITIONS = definitions_of(EcdpConsent.__table__)


def list_attributes(db: Store | fastsql.Lease, tenant_id: str) -> list[dict[str, Any]]:
    return definition_views(db, ATTRIBUTE_DEFINITIONS, tenant_id)


def list_consents(db: Store | fastsql.Lease, tenant_id: str) -> list[dict[str, Any]]:
    return definition_views(db, CONSENT_DEFINITIONS, tenant_id)


def definition_views(
    db: Store | fastsql.Lease, statement: fastsql.Prepared, tenant_id: str
) -> list[dict[str, Any]]:
    rows = fastsql.execute(db, statement, {"tenant": tenant_id})
    return [{"id": i, "name": n, "type": t} for i, n, t in rows]
