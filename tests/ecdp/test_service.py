"""The ECDP domain called directly (no HTTP), and a property: what POST writes, GET reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from simulator.core.db import new_session
from simulator.core.models import Tenant
from simulator.ecdp.errors import EcdpError
from simulator.ecdp.models import EcdpCustomer
from simulator.ecdp.service.definitions import AttributeDefinition
from simulator.ecdp.service.lookups import find_customer_for_key
from simulator.ecdp.service.parsing import Invalid, check_attribute_value
from simulator.ecdp.service.upsert import customer_guid, upsert_customers
from simulator.ecdp.service.views import customer_view
from tests.ecdp.helpers import customer, post

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def session(client: TestClient) -> Session:
    with new_session(client.app.state.engine) as db:
        yield db


def definition(kind: str, options: list[str] | None = None) -> AttributeDefinition:
    return AttributeDefinition(1, "attr", kind, options or [])


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("Number", "-12.75", "-12.75"),
        ("Money", "19.99", "19.99"),
        ("Date", "2024-02-29", "2024-02-29"),
        ("DateTime", "2024-02-29T10:00:00+02:00", "2024-02-29T10:00:00+02:00"),
        ("Boolean", "False", "false"),
        ("Url", "http://example.com", "http://example.com"),
        ("SingleSelect", "gold", "Gold"),
    ],
)
def test_attribute_values_accepted(kind: str, value: str, stored: str) -> None:
    assert check_attribute_value(definition(kind, ["Gold"]), value) == stored


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("Number", "1e5"),
        ("Number", "12,5"),
        ("Money", "1.234"),
        ("Date", "2023-02-29"),
        ("Date", "2024-02-29T00:00:00Z"),
        ("DateTime", "29/02/2024"),
        ("Boolean", "1"),
        ("Url", "example.com"),
        ("SingleSelect", "Silver"),
        ("String", "s" * 257),
    ],
)
def test_attribute_values_refused(kind: str, value: str) -> None:
    result = check_attribute_value(definition(kind, ["Gold"]), value)
    assert isinstance(result, Invalid)


def test_upsert_directly_uses_the_given_clock(session: Session) -> None:
    tenant = session.get(Tenant, "default")
    body = {"mode": "Add", "matchBy": "CrmId", "data": [{"crmId": "D-1", "email": "d@x.com"}]}
    result = upsert_customers(session, tenant, body, NOW, seed=0)
    assert result.added == [4] and result.updated == []
    row = find_customer_for_key(session, "ecdp-sandbox-key", "crmId", "D-1")
    assert customer_view(row)["email"] == "d@x.com"
    stored = session.exec(
        select(EcdpCustomer).where(EcdpCustomer.tenant_id == "default", EcdpCustomer.id == 4)
    ).one()
    assert stored.created_at == NOW and stored.updated_at == NOW
    with pytest.raises(EcdpError) as refused:
        upsert_customers(session, tenant, body, NOW, seed=0)
    assert refused.value.status == 400
    assert list(refused.value.extra["errors"]) == ["data[0].crmId"]


def test_guids_depend_on_seed_tenant_and_id() -> None:
    guid = customer_guid(0, "default", 4)
    assert guid == customer_guid(0, "default", 4)
    assert guid != customer_guid(1, "default", 4)
    assert guid != customer_guid(0, "other", 4)


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=256,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    local=st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,10})?", fullmatch=True),
    first=names,
    last=names,
    gender=st.sampled_from(["Male", "Female", "NotSpecified"]),
    size=st.integers(min_value=-1000, max_value=1000),
    vip=st.booleans(),
)
def test_what_post_writes_get_reads(
    client: TestClient, local: str, first: str, last: str, gender: str, size: int, vip: bool
) -> None:
    email = f"{local}@prop.example.com"
    item = {
        "email": email,
        "firstName": first,
        "lastName": last,
        "gender": gender,
        "customAttributes": [
            {"name": "shoeSize", "value": str(size)},
            {"name": "vip", "value": str(vip).lower()},
        ],
    }
    assert post(client, "AddOrUpdate", "Email", item).status_code == 201
    data = customer(client, "email", email.upper())
    assert data["email"] == email
    assert (data["firstName"], data["lastName"]) == (first.strip(), last.strip())
    assert data["gender"] == gender
    assert {a["name"]: a["value"] for a in data["customAttributes"]} == {
        "shoeSize": str(size),
        "vip": str(vip).lower(),
    }
