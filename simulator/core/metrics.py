"""Prometheus metrics (text exposition 0.0.4), kept per process.

Each replica/worker exposes its own counters, as Prometheus expects to scrape every instance;
gauges read from the store (tenants, queue depth) are the same everywhere.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from simulator.core.db import new_session
from simulator.core.formats import clean_text
from simulator.core.models import Tenant

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Gauges carry a `tenant` label (in a `<name>_by_tenant` family beside the totals) while the
# store holds at most this many tenants: beyond, a scrape would grow with every tenant a shared
# sandbox creates, so only the totals are written.
TENANT_LABEL_LIMIT = 100


@dataclass
class GaugeFamily:
    """One gauge of /metrics: its samples as (labels, value)."""

    name: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        for labels, value in self.samples:
            text = ",".join(f'{key}="{_escape(str(v))}"' for key, v in labels.items())
            lines.append(f"{self.name}{{{text}}} {value}" if text else f"{self.name} {value}")
        return lines


# A gauge hook of an API (ApiSpec.gauges): (session, the tenants to label or None) -> families.
GaugeHook = Callable[[Any, "list[str] | None"], Iterable[GaugeFamily]]


def counts_by_status(
    session: Any,
    model: Any,
    statuses: Iterable[str],
    name: str,
    what: str,
    tenant_ids: list[str] | None,
) -> list[GaugeFamily]:
    """`model`'s rows counted by `status`: the totals (every status, zeros included), and per
    tenant of `tenant_ids` in `<name>_by_tenant` (None: totals only)."""
    statuses = list(statuses)
    totals = dict.fromkeys(statuses, 0)
    by_tenant: dict[str, dict[str, int]] = {t: dict.fromkeys(statuses, 0) for t in tenant_ids or ()}
    if tenant_ids is None:
        rows = session.execute(select(model.status, func.count()).group_by(model.status)).all()
        for status, count in rows:
            totals[status] = totals.get(status, 0) + count
    else:
        rows = session.execute(
            select(model.status, model.tenant_id, func.count()).group_by(
                model.status, model.tenant_id
            )
        ).all()
        for status, tenant_id, count in rows:
            totals[status] = totals.get(status, 0) + count
            if tenant_id in by_tenant:
                by_tenant[tenant_id][status] = by_tenant[tenant_id].get(status, 0) + count
    families = [
        GaugeFamily(
            name,
            f"{what} in the store, by status.",
            [({"status": s}, n) for s, n in totals.items()],
        )
    ]
    if tenant_ids is not None:
        samples: list[tuple[dict[str, str], float]] = [
            ({"tenant": tenant_id, "status": status}, count)
            for tenant_id, counts in sorted(by_tenant.items())
            for status, count in counts.items()
        ]
        families.append(
            GaugeFamily(f"{name}_by_tenant", f"{what} in the store, by tenant and status.", samples)
        )
    return families


class Metrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.faults: Counter[tuple[str, str]] = Counter()
        self.bucket_counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        # Journal entries the store refused even once made storable (the journal's writer).
        self.journal_dropped = 0

    def observe(
        self, api: str, operation: str, status: int, seconds: float, fault: str | None
    ) -> None:
        self.requests[(api, operation, status)] += 1
        self.bucket_counts[api][bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[api] += seconds
        if fault:
            self.faults[(api, fault)] += 1

    def render(self, engine: Engine, gauges: list[GaugeHook]) -> str:
        """The whole exposition (the store's gauges read here: see `render_counters`)."""
        return self.render_counters() + read_gauges(engine, gauges)

    def render_counters(self) -> str:
        """This process's counters: on the event loop, which is what changes them."""
        lines = [
            "# HELP simulator_requests_total API requests by api, operation and status.",
            "# TYPE simulator_requests_total counter",
        ]
        for (api, operation, status), count in sorted(self.requests.items()):
            labels = f'api="{api}",operation="{_escape(operation)}",status="{status}"'
            lines.append(f"simulator_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP simulator_request_duration_seconds Time to answer an API request.",
            "# TYPE simulator_request_duration_seconds histogram",
        ]
        for api, counts in sorted(self.bucket_counts.items()):
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f'simulator_request_duration_seconds_bucket{{api="{api}",le="{le}"}} {cumulative}'
                )
            lines.append(
                f'simulator_request_duration_seconds_sum{{api="{api}"}} {self.latency_sum[api]}'
            )
            lines.append(f'simulator_request_duration_seconds_count{{api="{api}"}} {cumulative}')
        lines += [
            "# HELP simulator_faults_injected_total Faults injected, by api and rule.",
            "# TYPE simulator_faults_injected_total counter",
        ]
        for (api, fault), count in sorted(self.faults.items()):
            lines.append(
                f'simulator_faults_injected_total{{api="{api}",rule="{_escape(fault)}"}} {count}'
            )
        lines += [
            "# HELP simulator_journal_entries_dropped_total Request journal entries the store"
            " refused (each batch is stored around them).",
            "# TYPE simulator_journal_entries_dropped_total counter",
            f"simulator_journal_entries_dropped_total {self.journal_dropped}",
        ]
        return "\n".join(lines) + "\n"


def read_gauges(engine: Engine, gauges: list[GaugeHook]) -> str:
    """The gauges read from the store at scrape time (the same in every process); may run in a
    worker thread (a count over a large mail queue must not hold the event loop)."""
    with new_session(engine) as session:
        tenant_ids = (
            session.execute(select(col(Tenant.id)).order_by(col(Tenant.id))).scalars().all()
        )
        lines = GaugeFamily(
            "simulator_tenants", "Tenants in the store.", [({}, len(tenant_ids))]
        ).lines()
        labelled = list(tenant_ids) if len(tenant_ids) <= TENANT_LABEL_LIMIT else None
        for gauge in gauges:
            for family in gauge(session, labelled):
                lines += family.lines()
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    value = clean_text(value)  # a label may come from a request (ClientToolbox's `type`)
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
