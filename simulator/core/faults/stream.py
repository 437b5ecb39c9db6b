"""Faults of work an API does outside requests (CustomerGauge's stream worker processing a queued
upload): the worker asks before each attempt, naming the work as its API declares it
(`OperationTable.background`)."""

from __future__ import annotations

from datetime import datetime

from simulator.core.faults.dice import roll
from simulator.core.faults.matching import active_rules
from simulator.core.store import Store


def background_fault(
    db: Store, api: str, operation: str, tenant_id: str, now: datetime
) -> str | None:
    """A failure reason when a rule `{api, operation}` for this work fires (the worker retries
    the item), else None. `now` is the tenant's clock; global rules use it too here. The
    caller's transaction carries the counters (commit it with the item's state)."""
    from simulator.config import get_settings

    engine = db.get_bind()
    name = operation.casefold()
    candidates = [
        rule
        for rule in active_rules(engine)
        if rule.background
        and rule.rule.api == api
        and rule.operation == name
        and (rule.tenant_id is None or rule.tenant_id == tenant_id)
    ]
    seed = get_settings().seed
    for candidate in candidates:
        fired = roll(db, candidate, seed, now)
        if fired is None:
            continue
        error = candidate.rule.error
        if error is not None and error.message:
            return error.message
        return f"Simulated processing failure (fault rule {candidate.id})"
    return None
