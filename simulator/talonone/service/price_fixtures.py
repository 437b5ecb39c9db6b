"""The `priceHistory` part of the `talonone` fixture section: catalog items' past prices, which
`bestPriorPrice` answers from.

`priceHistory: [{id?, sku, price, observedAt, audienceId?, contextIds?}]`. A catalog item with a
price and no entry of its SKU here is observed at its catalog's `modified` (or `created`, or
the load instant), so a hand-written catalog has a price history from the start; an export
carries every observation, so a loaded export observes nothing twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlmodel import select

from simulator.core.clock import UtcDateTime, format_instant
from simulator.core.fixtures import LoadContext, Strict, numbered, raise_to
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.history import TalonPriceObservation
from simulator.talonone.service.best_prior_price import OBSERVATIONS, observe


class PriceObservation(Strict):
    id: int | None = Field(default=None, ge=1)
    sku: str = Field(min_length=1, max_length=1000)
    price: float = Field(allow_inf_nan=False)
    observedAt: UtcDateTime
    audienceId: int | None = Field(default=None, ge=1)
    contextIds: list[str] = Field(default_factory=list)


class FixtureModel(Strict):
    priceHistory: list[PriceObservation] = Field(default_factory=list)


def load_fixtures(db: Store, tenant: Tenant, fixture: Any, context: LoadContext) -> None:
    given = fixture.priceHistory
    observed = {entry.sku for entry in given}
    initial = [
        (catalog.modified or catalog.created or context.now, item.sku, item.price)
        for catalog in fixture.catalogs
        for item in catalog.items
        if item.price is not None and item.sku not in observed
    ]
    ids = numbered([entry.id for entry in given] + [None] * len(initial))
    for entry, observation_id in zip(given, ids, strict=False):
        observe(
            db,
            tenant.id,
            entry.observedAt,
            entry.sku,
            entry.price,
            observation_id=observation_id,
            audience_id=entry.audienceId,
            context_ids=entry.contextIds,
        )
    for (at, sku, price), observation_id in zip(initial, ids[len(given) :], strict=True):
        observe(db, tenant.id, at, sku, float(price), observation_id=observation_id)
    if ids:
        raise_to(db, tenant.id, OBSERVATIONS, max(ids))


def observation_entry(observation: TalonPriceObservation) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": observation.id,
        "sku": observation.sku,
        "price": observation.price,
        "observedAt": format_instant(observation.observed_at),
    }
    if observation.audience_id is not None:
        entry["audienceId"] = observation.audience_id
    if observation.context_ids:
        entry["contextIds"] = list(observation.context_ids)
    return entry


def observations(db: Store, tenant_id: str, sku: str | None = None) -> list[dict[str, Any]]:
    statement = select(TalonPriceObservation).where(TalonPriceObservation.tenant_id == tenant_id)
    if sku is not None:
        statement = statement.where(TalonPriceObservation.sku == sku)
    rows = db.exec(statement.order_by(TalonPriceObservation.id)).all()
    return [observation_entry(row) for row in rows]


def export_fixtures(db: Store, tenant: Tenant) -> dict[str, Any]:
    return {"priceHistory": observations(db, tenant.id)}
