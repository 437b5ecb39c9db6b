"""The core part of the `talonone` fixture section: application, attribute definitions,
campaigns with their rules (format in docs/campaigns.md), catalogs and customer profiles."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import insert
from sqlmodel import col, select

from simulator.core.clock import format_instant
from simulator.core.errors import ApiError
from simulator.core.fixtures import LoadContext, Strict, numbered, raise_to
from simulator.core.ids import next_value
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.core import TalonCatalog, TalonCatalogItem, TalonConfig, TalonProfile
from simulator.talonone.parsing import check_attribute
from simulator.talonone.service.campaigns import BUILTIN_ATTRIBUTES, forget_config

AttributeType = Literal["string", "number", "boolean", "time", "list", "map", "any"]
ENTITIES = ("CustomerSession", "CustomerProfile", "Event", "CartItem")


class Comparison(Strict):
    eq: Any = None
    ne: Any = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    in_: list[Any] | None = Field(default=None, alias="in")
    exists: bool | None = None


class AttributeTest(Comparison):
    name: str


class QuantityTest(Comparison):
    sku: str | None = None


class Condition(Strict):
    """Exactly one test per condition; a rule fires when all its conditions hold."""

    cartTotal: Comparison | None = None
    sessionTotal: Comparison | None = None
    itemSku: str | list[str] | None = None
    itemQuantity: QuantityTest | None = None
    itemAttribute: AttributeTest | None = None
    sessionAttribute: AttributeTest | None = None
    profileAttribute: AttributeTest | None = None
    eventAttribute: AttributeTest | None = None
    audience: int | None = None
    coupon: bool | None = None
    referral: bool | None = None
    event: str | None = None
    firstSession: bool | None = None

    @model_validator(mode="after")
    def one_test(self) -> Condition:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a condition has exactly one test (got {given or 'none'})")
        return self


class DiscountEffect(Strict):
    name: str
    value: float | None = None
    percent: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def value_or_percent(self) -> DiscountEffect:
        if (self.value is None) == (self.percent is None):
            raise ValueError("give exactly one of value, percent")
        return self


class ItemDiscountEffect(DiscountEffect):
    sku: str | list[str] | None = None
    itemAttribute: AttributeTest | None = None


class AddPointsEffect(Strict):
    programId: int
    subLedgerId: str = ""
    name: str | None = None
    value: float | None = Field(default=None, gt=0)
    perCurrency: float | None = Field(default=None, gt=0)
    startDate: str | None = None  # a timestamp, or on_action: pending until activated
    expiryDate: str | None = None
    validityDuration: str | None = Field(default=None, pattern=r"^\d+[hDWMY]$")  # on_action

    @model_validator(mode="after")
    def value_or_rate(self) -> AddPointsEffect:
        if (self.value is None) == (self.perCurrency is None):
            raise ValueError("give exactly one of value, perCurrency")
        return self


class DeductPointsEffect(Strict):
    programId: int
    subLedgerId: str = ""
    name: str | None = None
    value: float = Field(gt=0)


class NotificationEffect(Strict):
    notificationType: str = "info"
    title: str
    body: str = ""


class CustomEffect(Strict):
    effectId: int
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)


class EffectSpec(Strict):
    setDiscount: DiscountEffect | None = None
    setDiscountPerItem: ItemDiscountEffect | None = None
    addLoyaltyPoints: AddPointsEffect | None = None
    deductLoyaltyPoints: DeductPointsEffect | None = None
    showNotification: NotificationEffect | None = None
    customEffect: CustomEffect | None = None

    @model_validator(mode="after")
    def one_effect(self) -> EffectSpec:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"an effect has exactly one type (got {given or 'none'})")
        return self


class Rule(Strict):
    title: str = Field(min_length=1)
    conditions: list[Condition] = Field(default_factory=list)
    effects: list[EffectSpec] = Field(default_factory=list)


class Campaign(Strict):
    id: int = Field(ge=1)
    name: str = Field(min_length=1)
    description: str = ""
    state: Literal["enabled", "disabled", "archived"] = "enabled"
    type: Literal["advanced", "cartItem"] = "advanced"
    rulesetId: int | None = None
    tags: list[str] = Field(default_factory=list)
    features: list[
        Literal["coupons", "referrals", "loyalty", "giveaways", "strikethrough", "achievements"]
    ] = Field(default_factory=list)
    startTime: datetime | None = None
    endTime: datetime | None = None
    created: datetime | None = None
    rules: list[Rule] = Field(default_factory=list)


class Application(Strict):
    id: int = Field(default=1, ge=1)
    accountId: int = Field(default=1, ge=1)
    name: str = "Sandbox application"
    currency: str = Field(default="USD", min_length=3, max_length=3)


class CatalogItem(Strict):
    # As exported: the item's id (sessions name it as catalogItemID); else numbered after the
    # highest given one, in document order.
    id: int | None = Field(default=None, ge=1)
    sku: str = Field(min_length=1)
    price: float | None = None
    product: dict[str, str] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Catalog(Strict):
    id: int = Field(ge=1)
    name: str = Field(min_length=1)
    description: str = ""
    version: int = Field(default=1, ge=1)
    # As exported (default: when the document is loaded): what SyncCatalog answers shows them.
    created: datetime | None = None
    modified: datetime | None = None
    items: list[CatalogItem] = Field(default_factory=list)


class Profile(Strict):
    integrationId: str = Field(min_length=1, max_length=1000)
    attributes: dict[str, Any] = Field(default_factory=dict)
    created: datetime | None = None
    lastActivity: datetime | None = None  # as exported; else `created`
    closedSessions: int = Field(default=0, ge=0)
    totalSales: float = Field(default=0, ge=0)


class FixtureModel(Strict):
    application: Application | None = None
    attributes: dict[
        Literal["CustomerSession", "CustomerProfile", "Event", "CartItem"], dict[str, AttributeType]
    ] = Field(default_factory=dict)
    campaigns: list[Campaign] = Field(default_factory=list)
    catalogs: list[Catalog] = Field(default_factory=list)
    profiles: list[Profile] = Field(default_factory=list)

    @model_validator(mode="after")
    def unique_ids(self) -> FixtureModel:
        for label, values in (
            ("campaign id", [c.id for c in self.campaigns]),
            ("catalog id", [c.id for c in self.catalogs]),
            ("catalog item id", [i.id for c in self.catalogs for i in c.items if i.id]),
            ("profile integrationId", [p.integrationId for p in self.profiles]),
        ):
            if len(values) != len(set(values)):
                raise ValueError(f"duplicate {label}")
        for index, catalog in enumerate(self.catalogs):
            skus = [item.sku for item in catalog.items]
            if len(skus) != len(set(skus)):
                raise ValueError(f"catalogs[{index}].items: duplicate sku in one catalog")
        return self

    @model_validator(mode="after")
    def declared_profile_attributes(self) -> FixtureModel:
        """A profile's attributes are checked as UpdateCustomerProfileV2 checks them: each must
        be declared for CustomerProfile (the API's 400 "Unknown") and be of its declared type."""

        declared = {
            **BUILTIN_ATTRIBUTES["CustomerProfile"],
            **self.attributes.get("CustomerProfile", {}),
        }
        for index, profile in enumerate(self.profiles):
            for name, value in profile.attributes.items():
                where = f"profiles[{index}].attributes.{name}"
                if name not in declared:
                    raise ValueError(
                        f"{where}: the attribute {name!r} is not defined on customer profile "
                        "entities (the API refuses it: declare it under "
                        "talonone.attributes.CustomerProfile)"
                    )
                try:
                    check_attribute(declared[name], value, where, name)
                except ApiError as exc:
                    raise ValueError(f"{where}: {exc.message}") from None
        return self


def campaign_document(campaign: Campaign, now: datetime) -> dict[str, Any]:
    """The stored form of a campaign: plain JSON, what the rule engine reads."""
    document = campaign.model_dump(by_alias=True, exclude_none=True, mode="json")
    document.setdefault("rulesetId", campaign.id)
    document.setdefault("created", format_instant(campaign.created or now))
    return document


def load_fixtures(db: Store, tenant: Tenant, fixture: Any, context: LoadContext) -> None:
    """Write this part's rows from the validated section (the caller commits)."""

    forget_config(tenant.id)
    application = fixture.application or Application()
    db.add(
        TalonConfig(
            tenant_id=tenant.id,
            application_id=application.id,
            account_id=application.accountId,
            application_name=application.name,
            currency=application.currency,
            attributes={k: dict(v) for k, v in fixture.attributes.items()},
            campaigns=[campaign_document(c, context.now) for c in fixture.campaigns],
        )
    )
    highest = 0
    item_ids = iter(numbered([i.id for c in fixture.catalogs for i in c.items]))
    for catalog in fixture.catalogs:
        db.add(
            TalonCatalog(
                tenant_id=tenant.id,
                id=catalog.id,
                name=catalog.name,
                description=catalog.description,
                version=catalog.version,
                created=catalog.created or context.now,
                modified=catalog.modified or catalog.created or context.now,
            )
        )
        for item in catalog.items:
            item_id = next(item_ids)
            highest = max(highest, item_id)
            db.add(
                TalonCatalogItem(
                    tenant_id=tenant.id,
                    catalog_id=catalog.id,
                    sku=item.sku,
                    id=item_id,
                    price=item.price,
                    product_name=(item.product or {}).get("name"),
                    attributes=item.attributes,
                )
            )
    raise_to(db, tenant.id, "talonone.catalog_item", highest)
    load_profiles(db, tenant, fixture.profiles, context)


def load_profiles(db: Store, tenant: Tenant, profiles: list[Profile], context: LoadContext) -> None:
    """One counter update and one multi-row INSERT, however many profiles (generated fixtures
    bring tens of thousands); ids 1, 2, ... in document order as before."""
    if not profiles:
        return
    last = next_value(db, tenant.id, "talonone.profile", len(profiles))
    first = last - len(profiles) + 1
    rows = []
    for number, profile in enumerate(profiles, start=first):
        created = profile.created or context.now
        rows.append(
            {
                "tenant_id": tenant.id,
                "id": number,
                "integration_id": profile.integrationId,
                "attributes": profile.attributes,
                "created": created,
                "last_activity": profile.lastActivity or created,
                "closed_sessions": profile.closedSessions,
                "total_sales": profile.totalSales,
            }
        )
    db.flush()
    db.execute(insert(TalonProfile.__table__), rows)


def export_fixtures(db: Store, tenant: Tenant) -> dict[str, Any]:
    config = db.get(TalonConfig, tenant.id)
    if config is None:
        return {}
    document: dict[str, Any] = {
        "application": {
            "id": config.application_id,
            "accountId": config.account_id,
            "name": config.application_name,
            "currency": config.currency,
        },
        "attributes": config.attributes,
        "campaigns": config.campaigns,
    }
    catalogs = db.exec(select(TalonCatalog).where(TalonCatalog.tenant_id == tenant.id)).all()
    items = db.exec(
        select(TalonCatalogItem)
        .where(TalonCatalogItem.tenant_id == tenant.id)
        .order_by(col(TalonCatalogItem.id))
    ).all()
    document["catalogs"] = [
        {
            "id": catalog.id,
            "name": catalog.name,
            "description": catalog.description,
            "version": catalog.version,
            "created": format_instant(catalog.created),
            "modified": format_instant(catalog.modified),
            "items": [
                {
                    "id": item.id,
                    "sku": item.sku,
                    **({"price": item.price} if item.price is not None else {}),
                    **({"product": {"name": item.product_name}} if item.product_name else {}),
                    "attributes": item.attributes,
                }
                for item in items
                if item.catalog_id == catalog.id
            ],
        }
        for catalog in catalogs
    ]
    profiles = db.exec(select(TalonProfile).where(TalonProfile.tenant_id == tenant.id)).all()
    document["profiles"] = [
        {
            "integrationId": p.integration_id,
            "attributes": p.attributes,
            "created": format_instant(p.created),
            "lastActivity": format_instant(p.last_activity),
            "closedSessions": p.closed_sessions,
            "totalSales": p.total_sales,
        }
        for p in sorted(profiles, key=lambda p: p.id)
    ]
    return document
