"""Parsing and validating a POST /customers batch.

Validation follows ASP.NET's ValidationProblemDetails: every failing field is listed under its
path in the body (`data[3].email`), and a batch with any failing item writes nothing.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlparse

from simulator.core.clock import as_utc
from simulator.core.storable import INT32
from simulator.ecdp.errors import EcdpError
from simulator.ecdp.service.definitions import AttributeDefinition, Definitions

# Chosen limits (the docs are silent on batch size).
MAX_ITEMS = 10_000
VALIDATION_TITLE = "One or more validation errors occurred."
VALIDATION_SUBSTATUS = "CustomerInvalidModelState"

MODES = {"add": "Add", "update": "Update", "addorupdate": "AddOrUpdate"}
MATCH_BY = {
    "email": "Email",
    "phonenumber": "PhoneNumber",
    "crmid": "CrmId",
    "guid": "GUID",
    "visitorid": "VisitorId",
}
# matchBy -> the item field carrying the identifier.
MATCH_FIELD = {
    "Email": "email",
    "PhoneNumber": "phone",
    "CrmId": "crmId",
    "GUID": "guid",
    "VisitorId": "visitorId",
}
GENDERS = {"male": "Male", "female": "Female", "notspecified": "NotSpecified"}
CONSENT_VALUES = {
    "false": "False",
    "awaitingconfirmation": "AwaitingConfirmation",
    "true": "True",
}
# Item field -> (column, max length). `guid` is accepted only to match by GUID.
STRING_FIELDS: dict[str, tuple[str, int]] = {
    "email": ("email", 320),
    "phone": ("phone", 20),
    "crmId": ("crm_id", 128),
    "visitorId": ("visitor_id", 38),
    "firstName": ("first_name", 256),
    "lastName": ("last_name", 256),
    "guid": ("guid", 38),
}
ITEM_FIELDS = {
    name.lower(): name
    for name in (*STRING_FIELDS, "dateOfBirth", "gender", "customAttributes", "consentsData")
}
TOP_FIELDS = {"mode": "mode", "matchby": "matchBy", "data": "data"}
ATTRIBUTE_FIELDS = {"name": "name", "value": "value"}
CONSENTS_DATA_FIELDS = {
    "consents": "consents",
    "force": "force",
    "confirmationmessageid": "confirmationMessageId",
}
CONSENT_FIELDS = {"id": "id", "value": "value"}
# Identifier columns that are unique per tenant; key column -> item field.
IDENTIFIERS = {
    "email_key": "email",
    "phone_key": "phone",
    "crm_id": "crmId",
    "guid": "guid",
    "visitor_id": "visitorId",
}

EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
NUMBER_PATTERN = re.compile(r"^-?\d+(\.\d+)?$")
MONEY_PATTERN = re.compile(r"^-?\d+(\.\d{1,2})?$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STRING_ATTRIBUTE_MAX = 256
TEXT_ATTRIBUTE_MAX = 65_535
URL_MAX = 2_048


class Problems:
    """Field path -> messages, in the order they were found."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise validation_error(self.errors)


def validation_error(errors: dict[str, list[str]]) -> EcdpError:
    """400 problem+json naming every failing field; `detail` repeats the first one."""
    first_path, first_messages = next(iter(errors.items()))
    count = sum(len(m) for m in errors.values())
    detail = f"{first_path}: {first_messages[0]}"
    if count > 1:
        detail += f" (and {count - 1} more error{'s' if count > 2 else ''})"
    return EcdpError(
        400, detail, title=VALIDATION_TITLE, substatus=VALIDATION_SUBSTATUS, errors=errors
    )


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def canonical_keys(
    value: dict[str, Any], known: dict[str, str], path: str, problems: Problems
) -> dict[str, Any]:
    """Property names matched case-insensitively (ASP.NET binding); unknown ones refused."""
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = known.get(key.lower())
        if name is None:
            problems.add(child(path, key), f"The field '{key}' is not allowed.")
        else:
            result[name] = item
    return result


def expect_object(value: Any, path: str, problems: Problems) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    problems.add(path or "$", f"Expected a JSON object, got {json_type(value)}.")
    return None


def parse_enum(
    value: Any, choices: dict[str, str], path: str, problems: Problems, required: bool
) -> str | None:
    if value is None:
        if required:
            problems.add(path, f"The {path.rsplit('.', 1)[-1]} field is required.")
        return None
    if not isinstance(value, str):
        problems.add(path, f"Expected a string, got {json_type(value)}.")
        return None
    canonical = choices.get(value.lower())
    if canonical is None:
        allowed = ", ".join(dict.fromkeys(choices.values()))
        problems.add(path, f"'{value}' is not a valid value; expected one of: {allowed}.")
    return canonical


@dataclass
class Batch:
    mode: str
    match_by: str
    items: list[dict[str, Any]]


@dataclass
class CustomerInput:
    """One validated item: the columns it sets and the attributes/consents it changes."""

    index: int
    match_value: str
    columns: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, str | None] = field(default_factory=dict)  # canonical name -> value
    consents: dict[int, str] = field(default_factory=dict)
    force: bool = False
    confirmation_message_id: int | None = None


def parse_batch(body: Any, definitions: Definitions) -> Batch:
    """The envelope `{mode, matchBy, data}`; raises a 400 naming each failing field."""
    problems = Problems()
    envelope = expect_object(body, "", problems)
    problems.raise_if_any()
    assert envelope is not None
    envelope = canonical_keys(envelope, TOP_FIELDS, "", problems)
    mode = parse_enum(envelope.get("mode"), MODES, "mode", problems, required=True)
    match_by = parse_enum(envelope.get("matchBy"), MATCH_BY, "matchBy", problems, required=True)
    default_field = definitions.default_identification_field
    if match_by and default_field and match_by != default_field:
        problems.add(
            "matchBy",
            f"matchBy '{match_by}' does not match the default identification field "
            f"'{default_field}' (Settings > Customers > Default identification field).",
        )
    data = envelope.get("data")
    if data is None:
        problems.add("data", "The data field is required.")
    elif not isinstance(data, list):
        problems.add("data", f"Expected a JSON array, got {json_type(data)}.")
    elif not data:
        problems.add("data", "The data field must contain at least one customer.")
    elif len(data) > MAX_ITEMS:
        problems.add("data", f"The data field may contain at most {MAX_ITEMS} customers.")
    problems.raise_if_any()
    assert mode is not None and match_by is not None and isinstance(data, list)
    return Batch(mode, match_by, data)


def parse_items(batch: Batch, definitions: Definitions) -> list[CustomerInput]:
    problems = Problems()
    match_field = MATCH_FIELD[batch.match_by]
    inputs = []
    for index, raw in enumerate(batch.items):
        parsed = parse_item(raw, f"data[{index}]", definitions, problems, match_field)
        if parsed is not None:
            parsed.index = index
            inputs.append(parsed)
    problems.raise_if_any()
    return inputs


def parse_item(
    raw: Any,
    path: str,
    definitions: Definitions,
    problems: Problems,
    match_field: str | None,
) -> CustomerInput | None:
    """Validate one customer object; the match field (if any) is required."""
    item = expect_object(raw, path, problems)
    if item is None:
        return None
    item = canonical_keys(item, ITEM_FIELDS, path, problems)
    parsed = CustomerInput(index=0, match_value="")
    for name, (column, limit) in STRING_FIELDS.items():
        if name not in item:
            continue
        value = parse_string(item[name], child(path, name), limit, problems)
        if value is None:
            continue
        if name == "email" and value and not EMAIL_PATTERN.match(value):
            problems.add(child(path, name), f"'{value}' is not a valid e-mail address.")
        if name == "phone" and value and (any(c.isspace() for c in value)):
            problems.add(child(path, name), "The phone number must not contain spaces.")
        parsed.columns[column] = value or None
    if match_field is not None:
        column = STRING_FIELDS[match_field][0]
        match_value = parsed.columns.get(column)
        if not match_value:
            if child(path, match_field) not in problems.errors:
                problems.add(
                    child(path, match_field),
                    f"The {match_field} field is required to match customers by it.",
                )
        else:
            parsed.match_value = match_value
    if "dateOfBirth" in item and item["dateOfBirth"] is not None:
        parsed.columns["date_of_birth"] = parse_datetime(
            item["dateOfBirth"], child(path, "dateOfBirth"), problems
        )
    if "gender" in item and item["gender"] is not None:
        parsed.columns["gender"] = parse_enum(
            item["gender"], GENDERS, child(path, "gender"), problems, required=False
        )
    if item.get("customAttributes") is not None:
        parse_attributes(
            item["customAttributes"], child(path, "customAttributes"), definitions, parsed, problems
        )
    if item.get("consentsData") is not None:
        parse_consents(
            item["consentsData"], child(path, "consentsData"), definitions, parsed, problems
        )
    return parsed


def parse_string(value: Any, path: str, limit: int, problems: Problems) -> str | None:
    """A string of at most `limit` characters; None when absent/null or invalid."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(path, f"Expected a string, got {json_type(value)}.")
        return None
    value = value.strip()
    if len(value) > limit:
        problems.add(
            path, f"The field may be at most {limit} characters long ({len(value)} given)."
        )
        return None
    return value


def parse_datetime(value: Any, path: str, problems: Problems) -> datetime | None:
    if not isinstance(value, str):
        problems.add(path, f"Expected an ISO-8601 date-time string, got {json_type(value)}.")
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        return as_utc(parsed)
    except ValueError:
        problems.add(path, f"'{value}' is not a valid ISO-8601 date-time.")
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        problems.add(path, f"'{value}' is outside the supported range of dates.")
    return None


def parse_attributes(
    value: Any, path: str, definitions: Definitions, parsed: CustomerInput, problems: Problems
) -> None:
    if not isinstance(value, list):
        problems.add(path, f"Expected a JSON array, got {json_type(value)}.")
        return
    for position, raw in enumerate(value):
        here = f"{path}[{position}]"
        entry = expect_object(raw, here, problems)
        if entry is None:
            continue
        entry = canonical_keys(entry, ATTRIBUTE_FIELDS, here, problems)
        name = parse_string(entry.get("name"), child(here, "name"), 256, problems)
        if not name:
            if child(here, "name") not in problems.errors:
                problems.add(child(here, "name"), "The name field is required.")
            continue
        definition = definitions.attributes.get(name.lower())
        if definition is None:
            problems.add(child(here, "name"), f"Custom attribute '{name}' does not exist.")
            continue
        raw_value = entry.get("value")
        if raw_value is None or raw_value == "":
            parsed.attributes[definition.name] = None
            continue
        if not isinstance(raw_value, str):
            problems.add(child(here, "value"), f"Expected a string, got {json_type(raw_value)}.")
            continue
        checked = check_attribute_value(definition, raw_value)
        if isinstance(checked, Invalid):
            problems.add(child(here, "value"), checked.message)
        else:
            parsed.attributes[definition.name] = checked


@dataclass
class Invalid:
    message: str


def check_attribute_value(definition: AttributeDefinition, value: str) -> str | Invalid:
    """The value's content must match the attribute's type; returns the value as stored."""
    kind = definition.type
    label = f"'{value}' is not a valid {kind} value for attribute '{definition.name}'"
    if kind == "String":
        if len(value) > STRING_ATTRIBUTE_MAX:
            return Invalid(f"A String attribute may be at most {STRING_ATTRIBUTE_MAX} characters.")
        return value
    if kind == "Text":
        if len(value) > TEXT_ATTRIBUTE_MAX:
            return Invalid(f"A Text attribute may be at most {TEXT_ATTRIBUTE_MAX} characters.")
        return value
    if kind == "Number":
        return value if NUMBER_PATTERN.match(value) else Invalid(f"{label} (a decimal number).")
    if kind == "Money":
        if MONEY_PATTERN.match(value):
            return value
        return Invalid(f"{label} (an amount with at most 2 decimals).")
    if kind == "Date":
        with contextlib.suppress(ValueError):  # not a real date: the message below
            if DATE_PATTERN.match(value):
                date.fromisoformat(value)
                return value
        return Invalid(f"{label} (YYYY-MM-DD).")
    if kind == "DateTime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return value
        except ValueError:
            return Invalid(f"{label} (ISO-8601 date-time).")
    if kind == "Boolean":
        if value.lower() in ("true", "false"):
            return value.lower()
        return Invalid(f"{label} (true or false).")
    if kind == "Url":
        parts = urlparse(value)
        if parts.scheme in ("http", "https") and parts.netloc and len(value) <= URL_MAX:
            return value
        return Invalid(f"{label} (an absolute http or https URL).")
    if kind == "SingleSelect":
        if not definition.options:
            return value
        for option in definition.options:
            if option.lower() == value.lower():
                return option
        return Invalid(f"{label}; expected one of: {', '.join(definition.options)}.")
    return value


def parse_consents(
    value: Any, path: str, definitions: Definitions, parsed: CustomerInput, problems: Problems
) -> None:
    data = expect_object(value, path, problems)
    if data is None:
        return
    data = canonical_keys(data, CONSENTS_DATA_FIELDS, path, problems)
    force = data.get("force")
    if force is not None and not isinstance(force, bool):
        problems.add(child(path, "force"), f"Expected a boolean, got {json_type(force)}.")
    parsed.force = force is True
    message_id = data.get("confirmationMessageId")
    if message_id is not None and (
        parse_int32(message_id, child(path, "confirmationMessageId"), problems) is not None
    ):
        parsed.confirmation_message_id = message_id
    consents = data.get("consents")
    if consents is None:
        return
    if not isinstance(consents, list):
        problems.add(child(path, "consents"), f"Expected a JSON array, got {json_type(consents)}.")
        return
    for position, raw in enumerate(consents):
        here = f"{path}.consents[{position}]"
        entry = expect_object(raw, here, problems)
        if entry is None:
            continue
        entry = canonical_keys(entry, CONSENT_FIELDS, here, problems)
        if entry.get("id") is None:
            problems.add(child(here, "id"), "The id field is required.")
            consent_id = None
        else:
            consent_id = parse_int32(entry["id"], child(here, "id"), problems)
            if consent_id is not None and consent_id not in definitions.consents:
                problems.add(child(here, "id"), f"Consent {consent_id} does not exist.")
                consent_id = None
        consent_value = parse_enum(
            entry.get("value"), CONSENT_VALUES, child(here, "value"), problems, required=True
        )
        if consent_id is not None and consent_value is not None:
            parsed.consents[consent_id] = consent_value


def parse_int32(value: Any, path: str, problems: Problems) -> int | None:
    """A JSON integer of a 32-bit field (ids: the `Integer` columns they are stored in)."""
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(path, f"Expected an integer, got {json_type(value)}.")
        return None
    if not INT32.holds(value):
        problems.add(path, "The value is outside the range of a 32-bit integer.")
        return None
    return value
