"""What ECDP answers for a customer and a confirmation message, printed as .NET prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import RowMapping

from simulator.core.formats import load_json, number
from simulator.ecdp.models import EcdpConfirmation


def format_datetime(value: datetime | None) -> str | None:
    """`2023-07-25T12:35:54.712Z`: UTC, fraction only when non-zero (as .NET prints)."""
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not UTC and value.utcoffset():
        value = value.astimezone(UTC)
    text = value.isoformat()
    if value.tzinfo is not None:
        text = text[:-6]  # "+00:00"
    if value.microsecond:
        text = text.rstrip("0")
    return text + "Z"


def customer_view(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    """The documented GET shape, plus id, guid and visitorId."""
    attributes = row["attributes"]
    if isinstance(attributes, str):
        attributes = load_json(attributes)
    consents = row["consents"]
    if isinstance(consents, str):
        consents = load_json(consents)
    return {
        "id": row["id"],
        "guid": row["guid"],
        "email": row["email"],
        "phone": row["phone"],
        "crmId": row["crm_id"],
        "visitorId": row["visitor_id"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "dateOfBirth": format_datetime(row["date_of_birth"]),
        "gender": row["gender"],
        "rfmSegment": row["rfm_segment"],
        "totalSpent": number(row["total_spent"], places=None),
        "totalOrders": row["total_orders"],
        "totalOrderReturns": row["total_order_returns"],
        "avgOrder": number(row["avg_order"], places=None),
        "avgPricePoint": number(row["avg_price_point"], places=None),
        "lastOrder": format_datetime(row["last_order"]),
        "avgTimeBetweenOrdersInDays": number(row["avg_time_between_orders_in_days"], places=None),
        "currencySymbol": row["currency_symbol"],
        "customAttributes": [{"name": n, "value": v} for n, v in attributes.items()],
        "consentsData": {
            "consents": [{"id": int(cid), "value": value} for cid, value in consents.items()]
        },
    }


def confirmation_view(row: EcdpConfirmation) -> dict[str, Any]:
    return {
        "id": row.id,
        "customerId": row.customer_id,
        "email": row.email,
        "phone": row.phone,
        "consentIds": json.loads(row.consent_ids),
        "confirmationMessageId": row.confirmation_message_id,
        "forced": row.forced,
        "confirmed": row.confirmed,
        "sentAt": format_datetime(row.sent_at),
    }
