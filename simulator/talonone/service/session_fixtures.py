"""The sessions part of the `talonone` fixture section: customer `sessions` (with the returns
made from them) and stored `events`, as an export writes them and a document may declare them.

A session is stored as given: nothing is evaluated, posted or redeemed at load (the ledger
rows, coupon redemptions and profile figures a session caused are their own keys), prices and
catalog ids are not looked up. Only an open session's tentative loyalty figures are derived, from
its effects, as UpdateCustomerSessionV2 keeps them. Rows keep the ids a document gives; rows
without one are numbered after the highest given one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from sqlalchemy import insert, select

from simulator.core.clock import format_instant
from simulator.core.fixtures import LoadContext, Strict, numbered, raise_to
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.core import TalonEvent, TalonReturn, TalonSession
from simulator.talonone.service.engagement_fixtures import ensure_profiles
from simulator.talonone.service.loyalty.session_effects import tentative_card
from simulator.talonone.service.referrals import UtcDateTime
from simulator.talonone.service.sessions.cart import totals

Number = StrictInt | StrictFloat
NonNegative = Annotated[Number, Field(ge=0)]
Text = Annotated[StrictStr, Field(max_length=1000)]
# The session fields kept as the integration sent them (the API's CustomerSessionV2 names).
SENT_FIELDS = (
    "storeIntegrationId",
    "evaluableCampaignIds",
    "couponCodes",
    "referralCode",
    "loyaltyCards",
    "identifiers",
    "attributes",
)
# What the rollback of an effect reads from its props (cancel, reopen, return): a document may
# not leave them out. "number" is an int or a float, never a bool.
REQUIRED_PROPS: dict[str, dict[str, str]] = {
    "setDiscount": {"name": "string", "value": "number"},
    "setDiscountPerItem": {"name": "string", "value": "number", "position": "integer"},
    "acceptCoupon": {"value": "string"},
    "acceptReferral": {"value": "string"},
    "addLoyaltyPoints": {"programId": "integer", "value": "number"},
    "deductLoyaltyPoints": {"programId": "integer", "value": "number"},
}


def of_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    return isinstance(value, int | float)


class EffectFixture(Strict):
    """One effect as the API returns it."""

    campaignId: StrictInt = 0
    rulesetId: StrictInt = 0
    ruleIndex: StrictInt = 0
    ruleName: StrictStr = ""
    effectType: StrictStr = Field(min_length=1)
    props: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def props_complete(self) -> EffectFixture:
        for name, kind in REQUIRED_PROPS.get(self.effectType, {}).items():
            if name not in self.props:
                raise ValueError(f"props.{name}: required for a {self.effectType} effect")
            if not of_type(self.props[name], kind):
                article = "an" if kind == "integer" else "a"
                raise ValueError(f"props.{name}: must be {article} {kind}")
        return self


class Cost(Strict):
    price: Number


class ItemCost(Cost):
    """A cart item's cost: the API checks the price and keeps the rest as sent."""

    model_config = ConfigDict(defer_build=True, extra="allow")


class Product(BaseModel):
    """The API checks only the name and keeps what else the integration sent."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    name: StrictStr


class CartItemFixture(Strict):
    """A cart item as the session stores it; `position` and `remainingQuantity` are computed
    (given, they must agree) and `returnedQuantity` defaults to what the returns give back."""

    sku: StrictStr = Field(min_length=1)
    quantity: StrictInt = Field(ge=1)
    returnedQuantity: StrictInt | None = Field(default=None, ge=0)
    remainingQuantity: StrictInt | None = Field(default=None, ge=0)
    position: StrictInt | None = Field(default=None, ge=0)
    name: StrictStr | None = None
    price: Number | None = None  # a catalog price is not checked: any number
    category: StrictStr | None = None
    product: Product | None = None
    weight: NonNegative | None = None
    height: NonNegative | None = None
    width: NonNegative | None = None
    length: NonNegative | None = None
    attributes: dict[str, Any] | None = None
    additionalCosts: dict[str, ItemCost] | None = None
    catalogItemID: StrictInt | None = None
    selectedPriceType: StrictStr | None = None
    adjustmentReferenceId: Any = None
    adjustmentEffectiveFrom: Any = None
    adjustmentEffectiveUntil: Any = None
    prices: Any = None


class ReturnedItem(Strict):
    position: StrictInt = Field(ge=0)
    quantity: StrictInt = Field(ge=1)
    sku: StrictStr = Field(min_length=1)


class ReturnFixture(Strict):
    """One ReturnCartItems call already made from the session."""

    id: StrictInt | None = Field(default=None, ge=1)
    created: UtcDateTime | None = None
    eventId: StrictInt = Field(default=0, ge=0)
    returnedCartItems: list[ReturnedItem] = Field(min_length=1)


class SessionFixture(Strict):
    integrationId: StrictStr = Field(min_length=1, max_length=1000)
    id: StrictInt | None = Field(default=None, ge=1)
    profileId: Text = ""
    state: Literal["open", "closed", "partially_returned", "cancelled"] = "open"
    storeIntegrationId: StrictStr | None = Field(default=None, min_length=1, max_length=1000)
    evaluableCampaignIds: list[StrictInt] | None = None
    couponCodes: list[Annotated[StrictStr, Field(max_length=100)]] | None = None
    referralCode: StrictStr | None = Field(default=None, max_length=100)
    loyaltyCards: list[Annotated[StrictStr, Field(min_length=4, max_length=108)]] | None = Field(
        default=None, max_length=1
    )
    identifiers: list[StrictStr] | None = Field(default=None, max_length=5)
    cartItems: list[CartItemFixture] | None = None
    additionalCosts: dict[str, Cost] | None = None
    attributes: dict[str, Any] | None = None
    effects: list[EffectFixture] = Field(default_factory=list)
    firstSession: StrictBool = True
    updateCount: StrictInt = Field(default=1, ge=1)
    # What the session counts in its profile's totalSales (taken back by a cancel); by default
    # the total less the returned items' value when closed or partially returned, else 0.
    countedSales: Number | None = None  # a negative additional cost can make it negative
    created: UtcDateTime | None = None
    updated: UtcDateTime | None = None
    returns: list[ReturnFixture] = Field(default_factory=list)

    @model_validator(mode="after")
    def consistent(self) -> SessionFixture:
        items = self.cartItems or []
        for index, effect in enumerate(self.effects):
            position = effect.props.get("position")
            if effect.effectType == "setDiscountPerItem" and position >= len(items):
                raise ValueError(
                    f"effects[{index}].props.position: no cart item at position {position}"
                )
        if self.returns and self.state not in ("partially_returned", "cancelled"):
            raise ValueError(
                "returns: only a partially_returned (or since cancelled) session has returns"
            )
        returned = returned_quantities(self.returns, items)
        for index, item in enumerate(items):
            check_item(index, item, returned.get(index, 0))
        return self


def returned_quantities(returns: list[ReturnFixture], items: list[CartItemFixture]) -> dict:
    """{position: units returned} over the returns, each line checked against the cart."""
    returned: dict[int, int] = {}
    for r, item in enumerate(returns):
        for j, line in enumerate(item.returnedCartItems):
            where = f"returns[{r}].returnedCartItems[{j}]"
            if line.position >= len(items):
                raise ValueError(f"{where}.position: no cart item at position {line.position}")
            if items[line.position].sku != line.sku:
                raise ValueError(
                    f"{where}.sku: the cart item at position {line.position} is "
                    f"{items[line.position].sku}"
                )
            returned[line.position] = returned.get(line.position, 0) + line.quantity
    return returned


def check_item(index: int, item: CartItemFixture, returned: int) -> None:
    where = f"cartItems[{index}]"
    if item.position is not None and item.position != index:
        raise ValueError(f"{where}.position: must be the item's index ({index})")
    if item.returnedQuantity is not None and item.returnedQuantity != returned:
        raise ValueError(f"{where}.returnedQuantity: the returns give back {returned}")
    if returned > item.quantity:
        raise ValueError(f"{where}.returnedQuantity: more units returned than bought")
    remaining = item.quantity - returned
    if item.remainingQuantity is not None and item.remainingQuantity != remaining:
        raise ValueError(f"{where}.remainingQuantity: must be quantity - returnedQuantity")


class EventFixture(Strict):
    id: StrictInt | None = Field(default=None, ge=1)
    type: StrictStr = Field(min_length=1, max_length=1000)
    profileId: Text = ""
    sessionId: Text | None = None
    storeIntegrationId: Text | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    effects: list[EffectFixture] = Field(default_factory=list)
    created: UtcDateTime | None = None


def first_duplicate(values: Iterable[Any]) -> tuple[int, Any] | None:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value is not None and value in seen:
            return index, value
        seen.add(value)
    return None


class FixtureModel(Strict):
    sessions: list[SessionFixture] = Field(default_factory=list)
    events: list[EventFixture] = Field(default_factory=list)

    @model_validator(mode="after")
    def unique_session_and_event_ids(self) -> FixtureModel:
        for field, values in (
            ("integrationId", [s.integrationId for s in self.sessions]),
            ("id", [s.id for s in self.sessions]),
        ):
            found = first_duplicate(values)
            if found is not None:
                raise ValueError(f"sessions[{found[0]}].{field}: duplicate {field} {found[1]!r}")
        found = first_duplicate(e.id for e in self.events)
        if found is not None:
            raise ValueError(f"events[{found[0]}].id: duplicate id {found[1]}")
        places = [(i, j) for i, s in enumerate(self.sessions) for j in range(len(s.returns))]
        found = first_duplicate(self.sessions[i].returns[j].id for i, j in places)
        if found is not None:
            i, j = places[found[0]]
            raise ValueError(f"sessions[{i}].returns[{j}].id: duplicate return id {found[1]}")
        return self


# --- load -------------------------------------------------------------------------------------


def session_data(session: SessionFixture, returned: dict[int, int]) -> dict[str, Any]:
    """The stored `data` of a session: only the keys given (an update merges over them)."""
    data: dict[str, Any] = {}
    if session.profileId:
        data["profileId"] = session.profileId
    for key in SENT_FIELDS:
        value = getattr(session, key)
        if value is not None and not (key == "referralCode" and value == ""):
            data[key] = value
    if session.cartItems is not None:
        data["cartItems"] = [
            cart_item(index, item, returned.get(index, 0))
            for index, item in enumerate(session.cartItems)
        ]
    if session.additionalCosts is not None:
        data["additionalCosts"] = {
            name: cost.model_dump() for name, cost in session.additionalCosts.items()
        }
    return data


def cart_item(index: int, item: CartItemFixture, returned: int) -> dict[str, Any]:
    line = item.model_dump(exclude_none=True, exclude={"position", "remainingQuantity"})
    line["position"] = index
    line["returnedQuantity"] = returned
    line["remainingQuantity"] = item.quantity - returned
    return line


def counted_sales(session: SessionFixture, data: dict[str, Any]) -> float:
    """What a close counted in the profile's totalSales, less what returns took back."""

    if session.countedSales is not None:
        return float(session.countedSales)
    if session.state not in ("closed", "partially_returned"):
        return 0.0
    items = data.get("cartItems") or []
    back = sum((i.get("price") or 0) * i["returnedQuantity"] for i in items)
    return max(0.0, totals(data).total - back)


def referenced_profiles(fixture: Any) -> set[str]:
    ids = {s.profileId for s in fixture.sessions} | {e.profileId for e in fixture.events}
    return {i for i in ids if i}


def load_fixtures(db: Store, tenant: Tenant, fixture: Any, context: LoadContext) -> None:
    """Write this part's rows from the validated section (the caller commits)."""
    if not fixture.sessions and not fixture.events:
        return

    declared = {profile.integrationId for profile in getattr(fixture, "profiles", [])}
    ensure_profiles(db, tenant, referenced_profiles(fixture) - declared, context.now)
    db.flush()
    load_sessions(db, tenant.id, fixture.sessions, context.now)
    event_ids = numbered([e.id for e in fixture.events])
    if fixture.events:
        db.execute(
            insert(TalonEvent.__table__),
            [
                event_row(tenant.id, number, event, context.now)
                for number, event in zip(event_ids, fixture.events, strict=True)
            ],
        )
    returned_events = [r.eventId for s in fixture.sessions for r in s.returns]
    raise_to(db, tenant.id, "talonone.event", max([0, *event_ids, *returned_events]))


def load_sessions(db: Store, tenant_id: str, sessions: list[SessionFixture], now: datetime) -> None:
    """Sessions and their returns: one INSERT each."""
    if not sessions:
        return
    session_ids = numbered([s.id for s in sessions])
    return_ids = numbered([r.id for s in sessions for r in s.returns])
    rows, returns = [], []
    taken = iter(return_ids)
    for number, session in zip(session_ids, sessions, strict=True):
        returned = returned_quantities(session.returns, session.cartItems or [])
        data = session_data(session, returned)
        row = session_row(tenant_id, number, session, data, now)
        rows.append(row)
        for item in session.returns:
            returns.append(return_row(tenant_id, next(taken), row, item, now))
    db.execute(insert(TalonSession.__table__), rows)
    if returns:
        db.execute(insert(TalonReturn.__table__), returns)
    raise_to(db, tenant_id, "talonone.session", max(session_ids))
    raise_to(db, tenant_id, "talonone.return", max(return_ids, default=0))


def session_row(
    tenant_id: str, number: int, session: SessionFixture, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    created = session.created or now
    effects = [effect.model_dump() for effect in session.effects]
    return {
        "tenant_id": tenant_id,
        "id": number,
        "integration_id": session.integrationId,
        "profile_id": session.profileId,
        "state": session.state,
        "data": data,
        "effects": effects,
        "first_session": session.firstSession,
        "update_count": session.updateCount,
        "counted_sales": counted_sales(session, data),
        "created": created,
        "updated": session.updated or created,
        # An open session's loyalty effects are its tentative figures (derived, not stored).
        "tentative_card": tentative_card(effects) if session.state == "open" else None,
    }


def return_row(
    tenant_id: str, number: int, session: dict[str, Any], item: ReturnFixture, now: datetime
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": number,
        "session_id": session["id"],
        "session_integration_id": session["integration_id"],
        "profile_id": session["profile_id"],
        "event_id": item.eventId,
        "items": [line.model_dump() for line in item.returnedCartItems],
        "created": item.created or now,
    }


def event_row(tenant_id: str, number: int, event: EventFixture, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": number,
        "type": event.type,
        "profile_id": event.profileId,
        "session_id": event.sessionId,
        "store_integration_id": event.storeIntegrationId,
        "attributes": event.attributes,
        "effects": [effect.model_dump() for effect in event.effects],
        "created": event.created or now,
    }


# --- export -----------------------------------------------------------------------------------


def export_fixtures(db: Store, tenant: Tenant) -> dict[str, Any]:
    sessions = db.scalars(
        select(TalonSession).where(TalonSession.tenant_id == tenant.id).order_by(TalonSession.id)
    ).all()
    events = db.scalars(
        select(TalonEvent).where(TalonEvent.tenant_id == tenant.id).order_by(TalonEvent.id)
    ).all()
    if not sessions and not events:
        return {}
    returns: dict[int, list[dict[str, Any]]] = {}
    for item in db.scalars(
        select(TalonReturn).where(TalonReturn.tenant_id == tenant.id).order_by(TalonReturn.id)
    ):
        returns.setdefault(item.session_id, []).append(
            {
                "id": item.id,
                "created": format_instant(item.created),
                "eventId": item.event_id,
                "returnedCartItems": item.items,
            }
        )
    return {
        "sessions": [session_document(s, returns.get(s.id, [])) for s in sessions],
        "events": [event_document(e) for e in events],
    }


def session_document(session: TalonSession, returns: list[dict[str, Any]]) -> dict[str, Any]:
    data = session.data or {}
    document: dict[str, Any] = {
        "integrationId": session.integration_id,
        "id": session.id,
        "profileId": session.profile_id,
        "state": session.state,
    }
    for key in (*SENT_FIELDS, "cartItems", "additionalCosts"):
        if key in data:
            document[key] = data[key]
    document.update(
        {
            "effects": session.effects or [],
            "firstSession": session.first_session,
            "updateCount": session.update_count,
            "countedSales": session.counted_sales,
            "created": format_instant(session.created),
            "updated": format_instant(session.updated),
        }
    )
    if returns:
        document["returns"] = returns
    return document


def event_document(event: TalonEvent) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "profileId": event.profile_id,
        "attributes": event.attributes or {},
        "effects": event.effects or [],
        "created": format_instant(event.created),
    }
    if event.session_id:
        document["sessionId"] = event.session_id
    if event.store_integration_id:
        document["storeIntegrationId"] = event.store_integration_id
    return document
