"""/metrics gauges of the stream queue and the mail queue, read from the store at scrape time."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import create_tenant
from tests.customergauge.helpers import ADMIN, process, upload

SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def scrape(client: TestClient) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics: (name, labels) -> value; checks each family is typed."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    samples: dict[tuple[str, frozenset], float] = {}
    typed: dict[str, str] = {}
    for line in response.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in typed, f"{name} typed twice"
            typed[name] = kind
            continue
        if line.startswith("#"):
            continue
        name, labels, value = SAMPLE.match(line).groups()
        pairs = frozenset(re.findall(r'(\w+)="([^"]*)"', labels or ""))
        samples[(name, pairs)] = float(value)
    for name, _ in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        assert family in typed, f"{name} has no # TYPE"
        assert f"# HELP {family} " in response.text, f"{name} has no # HELP"
    for name in ("simulator_customergauge_uploads", "simulator_customergauge_mail"):
        assert typed.get(name) == "gauge", name
        assert typed.get(f"{name}_by_tenant", "gauge") == "gauge", name
    return samples


def gauge(samples: dict, name: str, status: str, tenant: str | None) -> float | None:
    """The total (no tenant), or one tenant's figure from the `_by_tenant` family."""
    if tenant is None:
        return samples.get((name, frozenset({("status", status)})))
    labels = frozenset({("status", status), ("tenant", tenant)})
    return samples.get((f"{name}_by_tenant", labels))


def uploads_gauge(samples: dict, status: str, tenant: str | None = None) -> float | None:
    return gauge(samples, "simulator_customergauge_uploads", status, tenant)


def mail_gauge(samples: dict, status: str, tenant: str | None = None) -> float | None:
    return gauge(samples, "simulator_customergauge_mail", status, tenant)


def test_queue_gauges_follow_the_queue(make_client) -> None:
    client = make_client()
    other = create_tenant(client)
    assert client.post(ADMIN.format(tenant="default") + "/worker/pause").status_code == 200
    for n in range(3):
        response = upload(client, {"Email": f"g{n}@example.com"}, {"FirstName": "NoEmail"})
        assert response.status_code == 200, response.text
    assert upload(client, {"Email": "unsubscribed@example.com"}).status_code == 200

    before = scrape(client)
    assert uploads_gauge(before, "Queued", "default") == 4
    assert uploads_gauge(before, "Processed", "default") == 0
    assert uploads_gauge(before, "Queued", other["id"]) == 0
    assert uploads_gauge(before, "Queued") == 4  # the totals, without a tenant label
    assert mail_gauge(before, "sent", "default") == 0

    summary = process(client)
    assert len(summary["processed"]) == 4
    after = scrape(client)
    assert uploads_gauge(after, "Queued", "default") == 0
    assert uploads_gauge(after, "Processed", "default") == 4
    assert uploads_gauge(after, "Processed") == 4
    assert mail_gauge(after, "sent", "default") == 3
    assert mail_gauge(after, "suppressed", "default") == 1
    assert mail_gauge(after, "queued", "default") == 0
    assert mail_gauge(after, "sent") == 3


def test_another_process_sees_the_same_gauges(make_client) -> None:
    """Read from the store: a process that served none of the uploads reports them."""
    first = make_client(run_worker=False)
    second = make_client(run_worker=False)
    for n in range(2):
        assert upload(first, {"Email": f"p{n}@example.com"}).status_code == 200
    assert uploads_gauge(scrape(second), "Queued", "default") == 2
    process(first)
    seen = scrape(second)
    assert uploads_gauge(seen, "Queued", "default") == 0
    assert mail_gauge(seen, "sent", "default") == 2


def test_past_the_tenant_cap_only_totals_are_labelled(
    make_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator.core import metrics

    monkeypatch.setattr(metrics, "TENANT_LABEL_LIMIT", 2)
    client = make_client(run_worker=False)
    for _ in range(2):
        create_tenant(client)
    assert upload(client, {"Email": "cap@example.com"}).status_code == 200
    samples = scrape(client)
    assert uploads_gauge(samples, "Queued") == 1
    assert mail_gauge(samples, "sent") == 0
    names = {name for name, _ in samples}
    assert "simulator_customergauge_uploads_by_tenant" not in names
    assert "simulator_customergauge_mail_by_tenant" not in names
