"""The `ecdp:` fixture section: settings, attribute and consent definitions, customers (with
their computed figures) and sent confirmation messages. Customers are checked by the same rules
as POST /customers; `export` writes a section that reproduces the tenant's state."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import insert, select

from simulator.core.fixtures import FixtureError, FixtureSection, LoadContext, Strict
from simulator.core.ids import next_value
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.ecdp.generate import COUNTS as GENERATE_COUNTS
from simulator.ecdp.generate import generate
from simulator.ecdp.models import EcdpAttribute, EcdpConfirmation, EcdpConsent, EcdpSettings
from simulator.ecdp.service.confirmations import list_confirmations
from simulator.ecdp.service.definitions import AttributeDefinition, Definitions, load_definitions
from simulator.ecdp.service.lookups import CUSTOMERS
from simulator.ecdp.service.parsing import IDENTIFIERS, Problems, parse_item
from simulator.ecdp.service.upsert import apply_input, blank_customer, customer_guid, encode_row
from simulator.ecdp.service.views import customer_view, format_datetime

AttributeType = Literal[
    "String", "Text", "Number", "Money", "Date", "DateTime", "SingleSelect", "Boolean", "Url"
]
MatchBy = Literal["Email", "PhoneNumber", "CrmId", "GUID", "VisitorId"]
INT32_MAX = 2**31 - 1  # ids and counts are 32-bit integer columns


class AttributeFixture(Strict):
    id: int = Field(ge=1, le=INT32_MAX)
    name: str = Field(min_length=1, max_length=256)
    type: AttributeType
    options: list[str] = Field(default_factory=list)


class ConsentFixture(Strict):
    id: int = Field(ge=1, le=INT32_MAX)
    name: str = Field(min_length=1, max_length=256)
    type: Literal["General", "Email", "Sms"] = "General"


class ConsentValueFixture(Strict):
    id: int = Field(le=INT32_MAX)
    value: Literal["False", "AwaitingConfirmation", "True"]


class CustomerFixture(Strict):
    id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    guid: str | None = Field(default=None, max_length=38)
    email: str | None = None
    phone: str | None = None
    crmId: str | None = None
    visitorId: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    dateOfBirth: str | None = None
    gender: str | None = None
    customAttributes: list[dict[str, Any]] = Field(default_factory=list)
    consents: list[ConsentValueFixture] = Field(default_factory=list)
    rfmSegment: str | None = Field(default=None, max_length=64)
    totalSpent: float = Field(default=0, allow_inf_nan=False)
    totalOrders: int = Field(default=0, ge=0, le=INT32_MAX)
    totalOrderReturns: int = Field(default=0, ge=0, le=INT32_MAX)
    avgOrder: float = Field(default=0, allow_inf_nan=False)
    avgPricePoint: float = Field(default=0, allow_inf_nan=False)
    lastOrder: datetime | None = None
    avgTimeBetweenOrdersInDays: float = Field(default=0, allow_inf_nan=False)
    currencySymbol: str | None = Field(default=None, max_length=8)
    createdAt: datetime | None = None

    @model_validator(mode="after")
    def has_identifier(self) -> CustomerFixture:
        if not (self.email or self.phone or self.crmId or self.visitorId):
            raise ValueError("a customer needs at least one of email, phone, crmId, visitorId")
        return self


class ConfirmationFixture(Strict):
    id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    customerId: int = Field(le=INT32_MAX)
    consentIds: list[int]
    confirmationMessageId: int | None = Field(default=None, ge=-INT32_MAX, le=INT32_MAX)
    forced: bool = False
    confirmed: bool = False
    sentAt: datetime | None = None


class EcdpFixture(Strict):
    defaultIdentificationField: MatchBy | None = None
    validationErrors: Literal["list", "map"] = "list"
    attributes: list[AttributeFixture] = Field(default_factory=list)
    consents: list[ConsentFixture] = Field(default_factory=list)
    customers: list[CustomerFixture] = Field(default_factory=list)
    confirmations: list[ConfirmationFixture] = Field(default_factory=list)

    @model_validator(mode="after")
    def unique_definitions(self) -> EcdpFixture:
        for label, items in (("attributes", self.attributes), ("consents", self.consents)):
            ids = [item.id for item in items]
            if len(ids) != len(set(ids)):
                raise ValueError(f"{label}: ids must be unique")
        names = [a.name.lower() for a in self.attributes]
        if len(names) != len(set(names)):
            raise ValueError("attributes: names must be unique (case-insensitively)")
        return self


def aware(value: datetime | None, default: datetime) -> datetime:
    if value is None:
        return default
    return value if value.tzinfo else value.replace(tzinfo=default.tzinfo)


def definitions_of(model: EcdpFixture) -> Definitions:
    return Definitions(
        default_identification_field=model.defaultIdentificationField,
        attributes={
            a.name.lower(): AttributeDefinition(a.id, a.name, a.type, a.options)
            for a in model.attributes
        },
        consents={c.id: c.type for c in model.consents},
    )


def customer_row(
    tenant: Tenant,
    index: int,
    customer: CustomerFixture,
    definitions: Definitions,
    context: LoadContext,
) -> dict[str, Any]:
    """Check one fixture customer with the API's own rules; raise FixtureError at its path."""
    item = {
        key: getattr(customer, key)
        for key in (
            "email",
            "phone",
            "crmId",
            "visitorId",
            "firstName",
            "lastName",
            "dateOfBirth",
            "gender",
        )
    }
    item["customAttributes"] = customer.customAttributes
    item["consentsData"] = {"consents": [c.model_dump() for c in customer.consents]}
    problems = Problems()
    parsed = parse_item(item, f"customers[{index}]", definitions, problems, None)
    if problems or parsed is None:
        path, messages = next(iter(problems.errors.items()))
        raise FixtureError(context.source, f"ecdp.{path}", messages[0])
    created = aware(customer.createdAt, context.now)
    row = apply_input(blank_customer(tenant.id, created), parsed, definitions, created)
    row.pop("pk")
    row.update(
        guid=(customer.guid or "").lower() or None,
        rfm_segment=customer.rfmSegment,
        total_spent=customer.totalSpent,
        total_orders=customer.totalOrders,
        total_order_returns=customer.totalOrderReturns,
        avg_order=customer.avgOrder,
        avg_price_point=customer.avgPricePoint,
        last_order=aware(customer.lastOrder, context.now) if customer.lastOrder else None,
        avg_time_between_orders_in_days=customer.avgTimeBetweenOrdersInDays,
        currency_symbol=customer.currencySymbol,
    )
    return row


def assign_ids(rows: list[dict[str, Any]], source: str) -> int:
    """Fill missing ids after the largest given one; refuse duplicates. Returns the largest."""
    taken: set[int] = set()
    for index, row in enumerate(rows):
        if row["id"] is not None:
            if row["id"] in taken:
                raise FixtureError(source, f"ecdp.customers[{index}].id", "duplicate customer id")
            taken.add(row["id"])
    last = max(taken, default=0)
    for row in rows:
        if row["id"] is None:
            last += 1
            row["id"] = last
    return last


def check_unique_identifiers(rows: list[dict[str, Any]], source: str) -> None:
    for column, name in IDENTIFIERS.items():
        seen: set[str] = set()
        for index, row in enumerate(rows):
            value = row.get(column)
            if value and value in seen:
                raise FixtureError(
                    source, f"ecdp.customers[{index}].{name}", f"{name} '{value}' is not unique"
                )
            if value:
                seen.add(value)


def load(session: Store, tenant: Tenant, model: EcdpFixture, context: LoadContext) -> None:
    if model.defaultIdentificationField or model.validationErrors != "list":
        session.add(
            EcdpSettings(
                tenant_id=tenant.id,
                default_identification_field=model.defaultIdentificationField,
                validation_errors=model.validationErrors,
            )
        )
    for attribute in model.attributes:
        session.add(
            EcdpAttribute(
                tenant_id=tenant.id,
                id=attribute.id,
                name=attribute.name,
                name_key=attribute.name.lower(),
                type=attribute.type,
                options=json.dumps(attribute.options),
            )
        )
    for consent in model.consents:
        session.add(
            EcdpConsent(tenant_id=tenant.id, id=consent.id, name=consent.name, type=consent.type)
        )
    definitions = definitions_of(model)
    rows = [
        customer_row(tenant, index, customer, definitions, context)
        for index, customer in enumerate(model.customers)
    ]
    for row, customer in zip(rows, model.customers, strict=True):
        row["id"] = customer.id
    last = assign_ids(rows, context.source)
    for row in rows:
        row["guid"] = row["guid"] or customer_guid(context.seed, tenant.id, row["id"])
    check_unique_identifiers(rows, context.source)
    session.flush()
    if rows:
        session.execute(insert(CUSTOMERS), [encode_row(r) for r in rows])
        next_value(session, tenant.id, "ecdp.customer", last)
    load_confirmations(session, tenant, model, {r["id"]: r for r in rows}, context)


def load_confirmations(
    session: Store,
    tenant: Tenant,
    model: EcdpFixture,
    customers: dict[int, dict[str, Any]],
    context: LoadContext,
) -> None:
    last = 0
    for index, sent in enumerate(model.confirmations):
        customer = customers.get(sent.customerId)
        if customer is None:
            raise FixtureError(
                context.source, f"ecdp.confirmations[{index}].customerId", "no such customer"
            )
        last = sent.id if sent.id is not None else last + 1
        session.add(
            EcdpConfirmation(
                tenant_id=tenant.id,
                id=last,
                customer_id=sent.customerId,
                email=customer["email"],
                phone=customer["phone"],
                consent_ids=json.dumps(sent.consentIds),
                confirmation_message_id=sent.confirmationMessageId,
                forced=sent.forced,
                confirmed=sent.confirmed,
                sent_at=aware(sent.sentAt, context.now),
            )
        )
    if model.confirmations:
        highest = max((s.id for s in model.confirmations if s.id is not None), default=0)
        next_value(session, tenant.id, "ecdp.confirmation", max(last, highest))


def export(session: Store, tenant: Tenant) -> dict[str, Any]:
    definitions = load_definitions(session, tenant.id)
    section: dict[str, Any] = {}
    if definitions.default_identification_field:
        section["defaultIdentificationField"] = definitions.default_identification_field
    settings = session.get(EcdpSettings, tenant.id)
    if settings is not None and settings.validation_errors != "list":
        section["validationErrors"] = settings.validation_errors
    section["attributes"] = [
        {"id": a.id, "name": a.name, "type": a.type, "options": a.options}
        for a in sorted(definitions.attributes.values(), key=lambda a: a.id)
    ]
    consent_rows = session.execute(
        select(EcdpConsent).where(EcdpConsent.tenant_id == tenant.id).order_by(EcdpConsent.id)
    ).scalars()
    section["consents"] = [{"id": c.id, "name": c.name, "type": c.type} for c in consent_rows]
    customers = session.execute(
        select(CUSTOMERS).where(CUSTOMERS.c.tenant_id == tenant.id).order_by(CUSTOMERS.c.id)
    ).mappings()
    section["customers"] = [export_customer(row) for row in customers]
    section["confirmations"] = [
        {
            "id": c.id,
            "customerId": c.customer_id,
            "consentIds": json.loads(c.consent_ids),
            "confirmationMessageId": c.confirmation_message_id,
            "forced": c.forced,
            "confirmed": c.confirmed,
            "sentAt": format_datetime(c.sent_at),
        }
        for c in list_confirmations(session, tenant.id)
    ]
    return section


def export_customer(row: Any) -> dict[str, Any]:
    view = customer_view(row)
    consents = view.pop("consentsData")["consents"]
    view["consents"] = consents
    view["createdAt"] = format_datetime(row["created_at"])
    return {key: value for key, value in view.items() if value is not None}


SECTION = FixtureSection(
    name="ecdp",
    schema=EcdpFixture,
    load=load,
    export=export,
    generate=generate,
    counts=GENERATE_COUNTS,
    list_keys={
        "attributes": ("id", "name"),
        "consents": ("id",),
        "customers": ("id", "email", "phone", "crmId"),
        "customers[].customAttributes": ("name",),
        "customers[].consents": ("id",),
        "confirmations": ("id",),
    },
)
