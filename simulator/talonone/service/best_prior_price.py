"""Best prior price (`bestPriorPrice`): the lowest price a SKU had over a look-back window, from
the prices catalog syncs set on the tenant clock (`TalonPriceObservation`).

A price counts for the window when it was in effect at some instant of it: the observation
in effect at the window's start and every later one up to its end. `timeframeEndDateType`
chooses the end: `strict` the given instant; `price` the start of the price in effect then
(that price itself excluded); `sale` the start of the run of observations carrying the current
price's context ids (as `price` when it has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from simulator.core.clock import format_instant, parse_instant
from simulator.core.ids import next_value
from simulator.core.store import Store
from simulator.talonone.models.core import TalonCatalogItem
from simulator.talonone.models.history import TalonPriceObservation
from simulator.talonone.parsing import (
    check_keys,
    expect_int,
    expect_list,
    expect_object,
    expect_str,
    invalid,
)

END_TYPES = ("strict", "price", "sale")
REQUIRED = ("skus", "timeframeEndDate", "timeframe")
TARGET_TYPES = ("NONE", "AUDIENCE")
MAX_SKUS = 1000
MAX_DAYS = 36_500
OBSERVATIONS = "talonone.price_observation"


@dataclass(frozen=True)
class PriorPriceRequest:
    skus: list[str]
    end: datetime
    days: int
    end_type: str
    audience_id: int | None


def check_request(body: Any) -> PriorPriceRequest:
    body = expect_object(body, "")
    check_keys(body, "", {*REQUIRED, "timeframeEndDateType", "strictEndDate", "target"})
    for name in REQUIRED:
        if name not in body:
            raise invalid(f"/{name}", f"{name} is required", "required")
    skus = expect_list(body["skus"], "/skus", MAX_SKUS)
    if not skus:
        raise invalid("/skus", "skus must not be empty", "minItems")
    skus = [expect_str(sku, f"/skus/{index}", 1) for index, sku in enumerate(skus)]
    try:
        end = parse_instant(expect_str(body["timeframeEndDate"], "/timeframeEndDate", 1))
    except ValueError:
        raise invalid("/timeframeEndDate", "timeframeEndDate must be a date-time") from None
    timeframe = expect_str(body["timeframe"], "/timeframe", 1)
    if not timeframe.isascii() or not timeframe.isdigit() or not 1 <= int(timeframe) <= MAX_DAYS:
        raise invalid("/timeframe", f"timeframe must be a number of days, 1 to {MAX_DAYS}")
    end_type = end_type_of(body)
    return PriorPriceRequest(
        list(dict.fromkeys(skus)), end, int(timeframe), end_type, audience_of(body.get("target"))
    )


def end_type_of(body: dict[str, Any]) -> str:
    """The document's `timeframeEndDateType`, or SDK 26.2's `strictEndDate` (true: strict;
    false: the window reaches back from the start of the current sale)."""
    strict = body.get("strictEndDate", False)
    if not isinstance(strict, bool):
        raise invalid("/strictEndDate", "strictEndDate must be a boolean", "Invalid type")
    if "timeframeEndDateType" in body:
        end_type = body["timeframeEndDateType"]
        if end_type not in END_TYPES:
            raise invalid("/timeframeEndDateType", f"must be one of {', '.join(END_TYPES)}", "enum")
        return end_type
    if "strictEndDate" not in body:
        raise invalid("/timeframeEndDateType", "timeframeEndDateType is required", "required")
    return "strict" if strict else "sale"


def audience_of(target: Any) -> int | None:
    if target is None:
        return None
    target = expect_object(target, "/target")
    check_keys(target, "/target", {"targetType", "audienceID"})
    kind = target.get("targetType")
    if kind not in TARGET_TYPES:
        raise invalid("/target/targetType", f"must be one of {', '.join(TARGET_TYPES)}", "enum")
    if kind == "NONE":
        if "audienceID" in target:
            raise invalid("/target/audienceID", "audienceID needs targetType AUDIENCE")
        return None
    if "audienceID" not in target:
        raise invalid("/target/audienceID", "audienceID is required for AUDIENCE", "required")
    return expect_int(target["audienceID"], "/target/audienceID", minimum=1)


def history(
    db: Store, tenant_id: str, sku: str, audience_id: int | None, until: datetime
) -> list[TalonPriceObservation]:
    statement = (
        select(TalonPriceObservation)
        .where(
            TalonPriceObservation.tenant_id == tenant_id,
            TalonPriceObservation.sku == sku,
            TalonPriceObservation.observed_at <= until,
        )
        .order_by(TalonPriceObservation.observed_at, TalonPriceObservation.id)
    )
    if audience_id is None:
        statement = statement.where(TalonPriceObservation.audience_id.is_(None))
    else:
        statement = statement.where(TalonPriceObservation.audience_id == audience_id)
    return list(db.scalars(statement))


def window_end(observations: list[TalonPriceObservation], request: PriorPriceRequest) -> int:
    """How many of the observations (up to the end date) stand before the window's end."""
    if request.end_type == "strict" or not observations:
        return len(observations)
    end = len(observations) - 1  # the current price starts here and is left out
    context = set(observations[end].context_ids or [])
    if request.end_type == "sale" and context:
        while end > 0 and context & set(observations[end - 1].context_ids or []):
            end -= 1
    return end


def best_of(
    observations: list[TalonPriceObservation], request: PriorPriceRequest
) -> TalonPriceObservation | None:
    end_index = window_end(observations, request)
    if end_index == 0:
        return None
    end = request.end if end_index == len(observations) else observations[end_index].observed_at
    start = end - timedelta(days=request.days)
    candidates = [
        observation
        for index, observation in enumerate(observations[:end_index])
        if observation.observed_at >= start
        or index + 1 == end_index
        or observations[index + 1].observed_at > start
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda o: (o.price, -o.observed_at.timestamp(), -o.id))


def observation_view(observation: TalonPriceObservation) -> dict[str, Any]:
    target: dict[str, Any] = {"type": "NONE"}
    if observation.audience_id is not None:
        target = {"type": "AUDIENCE", "audience": {"id": observation.audience_id}}
    return {
        "id": observation.id,
        "sku": observation.sku,
        "observedAt": format_instant(observation.observed_at),
        "price": observation.price,
        "contextIds": list(observation.context_ids or []),
        "contextId": "",
        "metadata": {"influencingCampaignDetails": []},
        "target": target,
    }


def best_prior_prices(db: Store, tenant_id: str, body: Any) -> list[dict[str, Any]]:
    """One entry per requested SKU that had a price in the window, in the order asked."""
    request = check_request(body)
    found = []
    for sku in request.skus:
        best = best_of(history(db, tenant_id, sku, request.audience_id, request.end), request)
        if best is not None:
            found.append(observation_view(best))
    return found


# --- recording -------------------------------------------------------------------------------


def observe(
    db: Store,
    tenant_id: str,
    at: datetime,
    sku: str,
    price: float,
    *,
    observation_id: int | None = None,
    audience_id: int | None = None,
    context_ids: list[str] | None = None,
) -> TalonPriceObservation:
    observation = TalonPriceObservation(
        tenant_id=tenant_id,
        id=observation_id or next_value(db, tenant_id, OBSERVATIONS),
        sku=sku,
        price=price,
        observed_at=at,
        audience_id=audience_id,
        context_ids=context_ids or [],
    )
    db.add(observation)
    return observation


def observe_changes(
    db: Store,
    tenant_id: str,
    now: datetime,
    before: dict[str, float | None],
    items: dict[str, TalonCatalogItem],
) -> None:
    """After a sync: a new observation for each item whose price it set or changed."""
    for sku, item in items.items():
        if item.price is not None and before.get(sku) != item.price:
            observe(db, tenant_id, now, sku, float(item.price))
