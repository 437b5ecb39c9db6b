"""Hostile requests to the admin API (issue 19): ids beyond their column, odd query parameters,
wrong types, text with NUL, and so on. Never a 5xx; every error is the admin API's plain JSON
`{"error": ...}`. Its body ceiling and nesting limit (item 6) and the clock's ranges (item 2)
are other changes: those cases are expected to fail until they are in."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.fuzz.conftest import FUZZ, Session
from tests.fuzz.hostile import (
    DEEP_NESTING,
    LARGE_BODY_BYTES,
    Probe,
    issue_probes,
    probe_strategy,
    with_body,
)
from tests.fuzz.surface import ADMIN, ADMIN_CLOCK


def deeply_nested(probe: Probe) -> bool:
    """The admin cases issue 19 item 6 (another change) fixes: deep nesting, and a fixture set's
    name longer than a file name."""
    if probe.operation.name == "CreateTenant" and probe.slot == "body fixtures":
        return probe.category == "size"
    return probe.category == "nesting" and probe.slot == "whole body"


def test_admin_hostile_requests(requests_of: Session) -> None:
    @FUZZ
    @given(probe=probe_strategy(ADMIN).filter(lambda p: not deeply_nested(p)))
    def attack(probe: Probe) -> None:
        requests_of.check(probe)
        undo_settings(requests_of, probe)

    attack()


def undo_settings(requests_of: Session, probe: Probe) -> None:
    """A hostile example may still be a valid setting (a quota of 100, a fault rule for every
    ECDP call): taken back, so that the next example meets the same server."""
    client = requests_of.client
    if probe.operation.name == "PutQuotas":
        nothing = {"requestsPerSecond": None, "records": None, "journalEntries": None}
        assert client.put("/__admin/tenants/default/quotas", json=nothing).status_code == 200
    elif probe.operation.name == "AddFault":
        assert client.delete("/__admin/faults").status_code == 200


def test_admin_issue_categories_in_every_slot(requests_of: Session) -> None:
    """Integer range, NUL, non-finite and overflowing numbers in every slot of every admin
    operation (deep nesting aside: item 6)."""
    for operation in ADMIN:
        for probe in issue_probes(operation):
            if not deeply_nested(probe):
                requests_of.check(probe)
                undo_settings(requests_of, probe)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/__admin/faults/9223372036854775808", 404),
        ("/__admin/faults/2147483648", 404),
        ("/__admin/tenants/default/customergauge/uploads/2147483648", 404),
        ("/__admin/tenants/default/clienttoolbox/undo-states/2147483648", 404),
        ("/__admin/tenants/default/customergauge/mail-queue?upload=2147483648", 400),
        ("/__admin/tenants/default/customergauge/uploads?start=9223372036854775808", 400),
        ("/__admin/tenants/default/ecdp/confirmations?customerId=-2147483649", 400),
        ("/__admin/requests?status=2147483648", 400),
        ("/__admin/tenants/a%00b", 400),
        ("/__admin/requests?path=%00", 400),
    ],
)
def test_admin_numbers_beyond_the_store(requests_of: Session, path: str, status: int) -> None:
    """An id beyond its column names nothing (404); another number beyond it is a 400."""
    response = requests_of.client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["status"] == status


def test_admin_posts_beyond_the_store(requests_of: Session) -> None:
    client = requests_of.client
    for path in (
        "/__admin/tenants/default/ecdp/confirmations/2147483648/confirm",
        "/__admin/tenants/default/clienttoolbox/undo-states/9223372036854775808/undo",
    ):
        assert client.post(path).status_code == 404
    points = "/__admin/tenants/default/talonone/loyalty/programs/{}/points"
    entry = {"profileId": "loyalty-demo-1", "amount": 5}
    assert client.post(points.format(2**31), json=entry).status_code == 404
    quotas = client.put("/__admin/tenants/default/quotas", json={"records": 2**31})
    assert quotas.status_code == 400
    assert client.get("/__admin/tenants/default/quotas").json()["records"] is None


@pytest.mark.parametrize(
    "operation", [op for op in ADMIN if op.kind == "json"], ids=lambda op: op.name
)
def test_admin_deep_nesting_and_huge_bodies(requests_of: Session, operation) -> None:
    requests_of.check(with_body(operation, DEEP_NESTING, "nesting"))
    huge = b'{"padding": "' + b"x" * (60 * 1024 * 1024) + b'"}'
    response = requests_of.check(with_body(operation, huge, "size"))
    assert response.status_code == 413
    assert len(huge) > LARGE_BODY_BYTES


def test_admin_clock_hostile_requests(requests_of: Session) -> None:
    @FUZZ
    @given(probe=probe_strategy(ADMIN_CLOCK))
    def attack(probe: Probe) -> None:
        requests_of.check(probe)

    attack()


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (
            b'{"clienttoolbox": {"customers": [{"code": "1", "balance": NaN}]}}',
            "clienttoolbox.customers[0].balance",
        ),
        (
            b'{"ecdp": {"customers": [{"id": 1, "totalSpent": 1e400}]}}',
            "ecdp.customers[0].totalSpent",
        ),
        (b'{"customergauge": {"send_delay_seconds": 1e308}}', "customergauge.send_delay_seconds"),
        (
            b'{"ecdp": {"customers": [{"id": 1, "email": "a\\u0000@b.com"}]}}',
            "ecdp.customers[0].email",
        ),
    ],
)
def test_inline_fixture_documents_hold_what_the_store_can(
    requests_of: Session, document: bytes, where: str
) -> None:
    body = b'{"name": "hostile", "fixtures": ' + document + b"}"
    response = requests_of.client.post(
        "/__admin/tenants", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "fixtures refused"
    assert response.json()["path"] == where
    names = [t["name"] for t in requests_of.client.get("/__admin/tenants").json()["tenants"]]
    assert "hostile" not in names
