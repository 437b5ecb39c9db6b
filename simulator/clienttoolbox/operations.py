"""The ClientToolbox calls the simulator serves (core/operations): one form endpoint at three
paths, the call chosen by the `type` field, whose value is each operation's name."""

from __future__ import annotations

from typing import Any

from simulator.core.operations import Operation, OperationTable
from simulator.core.requestinfo import keep_on_state, kept_on_state

PATHS = ("/", "/api.php", "/admin.php")
# Where the auth leaves the request's parsed fields (query and form, names lower-cased): on the
# request state, so the handler, the error renderer and the operation lookup parse them once.
FIELDS_STATE_KEY = "clienttoolbox_fields"


def call(name: str, summary: str) -> Operation:
    return Operation("clienttoolbox", name, "POST", PATHS, call=name, summary=summary)


def kept_fields(scope: Any) -> dict[str, str] | None:
    """The request's fields once parsed (by its auth or for a fault rule), or None."""
    return kept_on_state(scope, FIELDS_STATE_KEY)


def keep_fields(scope: Any, fields: dict[str, str]) -> None:
    keep_on_state(scope, FIELDS_STATE_KEY, fields)


def call_of(scope: Any) -> str | None:
    """The request's `type` once its fields were parsed (by its auth or for a fault rule)."""
    fields = kept_fields(scope)
    return fields.get("type") if fields else None


OPERATIONS = OperationTable(
    "clienttoolbox",
    [
        call("customers_batch", "Batch import customers"),
        call("batch_transactions", "Batch transactions"),
        call("manage_fields", "Customer fields (action=list)"),
        call("campaigns_list", "Campaigns list"),
        call("campaign_rewards", "Campaign rewards list"),
        call("customer_find", "Customer find"),
        call("customer_search", "Customer search"),
        call("reports", "Reports (report=customers_balances)"),
    ],
    call_field="type",
    call_of=call_of,
)
