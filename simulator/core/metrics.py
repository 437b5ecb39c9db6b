"""Prometheus metrics (text exposition 0.0.4), kept per process.

Each replica/worker exposes its own counters, as Prometheus expects to scrape every instance;
gauges read from the store (tenants, queue depth) are the same everywhere.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from simulator.core.db import new_session
from simulator.core.formats import clean_text
from simulator.core.models import Tenant

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.faults: Counter[tuple[str, str]] = Counter()
        self.bucket_counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: Counter[str] = Counter()
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

    def render(self, engine: Engine, gauges: list[Any]) -> str:
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
        with new_session(engine) as session:
            tenants = session.execute(select(func.count()).select_from(Tenant)).scalar_one()
            lines += [
                "# HELP simulator_tenants Tenants in the store.",
                "# TYPE simulator_tenants gauge",
                f"simulator_tenants {tenants}",
            ]
            for gauge in gauges:
                for name, value in gauge(session).items():
                    lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    value = clean_text(value)  # a label may come from a request (ClientToolbox's `type`)
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
