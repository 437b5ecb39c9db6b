"""The four GET lookups: one indexed query per lookup, the customer joined to its tenant by API
key.
"""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection, RowMapping
from sqlmodel import Session

from simulator.core import fastsql
from simulator.core.models import Tenant
from simulator.ecdp.models import EcdpCustomer

CUSTOMERS = EcdpCustomer.__table__


LOOKUP_COLUMNS = {"id": "id", "email": "email_key", "phone": "phone_key", "crmId": "crm_id"}


def lookup_key(kind: str, raw: str) -> str | int | None:
    """The path value as the index holds it: emails lower-case, phones without spaces."""
    if kind == "id":
        try:
            return int(raw)
        except ValueError:
            return None
    if kind == "email":
        return raw.strip().lower()
    if kind == "phone":
        return "".join(raw.split())
    return raw


# What a GET answer needs (no keys, no timestamps: fewer values to convert per lookup).
VIEW_COLUMNS = [
    CUSTOMERS.c[name]
    for name in (
        "tenant_id",
        "id",
        "guid",
        "email",
        "phone",
        "crm_id",
        "visitor_id",
        "first_name",
        "last_name",
        "date_of_birth",
        "gender",
        "attributes",
        "consents",
        "rfm_segment",
        "total_spent",
        "total_orders",
        "total_order_returns",
        "avg_order",
        "avg_price_point",
        "last_order",
        "avg_time_between_orders_in_days",
        "currency_symbol",
    )
]


def _lookup_statement(column: str) -> Select:
    tenants = Tenant.__table__
    return (
        select(*VIEW_COLUMNS, tenants.c.quota_requests_per_second)
        .select_from(CUSTOMERS.join(tenants, tenants.c.id == CUSTOMERS.c.tenant_id))
        .where(
            tenants.c.ecdp_api_key == bindparam("api_key"),
            CUSTOMERS.c[column] == bindparam("value"),
        )
        .limit(1)
    )


# Built once: each lookup is one prepared, cached statement (customer joined to its tenant).
LOOKUP_STATEMENTS = {
    kind: fastsql.prepared(_lookup_statement(column)) for kind, column in LOOKUP_COLUMNS.items()
}


def find_customer_for_key(
    connection: Connection | Session | fastsql.Lease, api_key: str, kind: str, value: str | int
) -> RowMapping | None:
    """The customer and its tenant in one indexed query, joined on the tenant's API key."""
    parameters = {"api_key": api_key, "value": value}
    return fastsql.execute(connection, LOOKUP_STATEMENTS[kind], parameters).mappings().first()
