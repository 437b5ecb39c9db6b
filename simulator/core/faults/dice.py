"""The dice: whether a matching rule fires. The n-th match of a rule draws the same number in
every run with the same seed, in any process; counters live in the store (conditional rules) or
in memory, added to the store in bulk (rules that fire on every match)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import true, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from simulator.core.clock import real_now, tenant_now
from simulator.core.faults.matching import ActiveRule, _cache_lock, state_of
from simulator.core.faults.rules import FaultRule, RuleDefinition
from simulator.core.ids import seeded_rng
from simulator.core.models import Tenant
from simulator.core.store import Store, session_unit


@dataclass
class Fired:
    rule: ActiveRule
    rng: Any


def roll(session: Store, candidate: ActiveRule, seed: int, now: datetime) -> Fired | None:
    """Count the match, then decide with the rule's dice; the caller commits.

    The n-th match of a rule always draws the same number (seed, rule id, n), in any process.
    """
    rule = candidate.rule
    if not candidate.active_at(now):
        return None
    probability = candidate.probability_at(now)
    limit = col(FaultRule.hits) < rule.count if rule.count is not None else true()
    if rule.after == 0 and probability >= 1.0:
        # One statement: count the match and the hit unless the rule is used up.
        row = session.execute(
            update(FaultRule)
            .where(col(FaultRule.id) == candidate.id, limit)
            .values(matched=col(FaultRule.matched) + 1, hits=col(FaultRule.hits) + 1)
            .returning(col(FaultRule.matched))
        ).first()
        if row is None:  # used up: still counted as a match
            session.execute(
                update(FaultRule)
                .where(col(FaultRule.id) == candidate.id)
                .values(matched=col(FaultRule.matched) + 1)
            )
            return None
        return Fired(candidate, seeded_rng(_seed(rule, seed), "fault", candidate.dice, row[0]))
    matched = session.execute(
        update(FaultRule)
        .where(col(FaultRule.id) == candidate.id)
        .values(matched=col(FaultRule.matched) + 1)
        .returning(col(FaultRule.matched))
    ).scalar_one_or_none()
    if matched is None or matched <= rule.after:
        return None
    rng = seeded_rng(_seed(rule, seed), "fault", candidate.dice, matched)
    if rng.random() >= probability:
        return None
    hit = session.execute(
        update(FaultRule)
        .where(col(FaultRule.id) == candidate.id, limit)
        .values(hits=col(FaultRule.hits) + 1)
        .returning(col(FaultRule.hits))
    ).scalar_one_or_none()
    return Fired(candidate, rng) if hit is not None else None


def _seed(rule: RuleDefinition, seed: int) -> int:
    return rule.seed if rule.seed is not None else seed


def unconditional(rule: ActiveRule) -> bool:
    """Fires on every match: no count, no `after`, certain, no ramp. Such a rule's counters
    are kept in memory and added to the store in bulk (at most a second later), so a rule on a
    busy path costs no write per request."""
    definition = rule.rule
    return (
        definition.count is None
        and definition.after == 0
        and definition.probability >= 1.0
        and definition.ramp is None
    )


FLUSH_SECONDS = 0.5


def flush_hits(engine: Engine) -> None:
    """Add the buffered counts of unconditional rules to the store (one UPDATE per rule)."""
    state = state_of(engine)
    with _cache_lock:
        mine, state.pending = state.pending, {}
        state.last_flush = time.monotonic()
    if not mine:
        return
    with session_unit(engine) as session:
        for rule_id, count in sorted(mine.items()):
            session.execute(
                update(FaultRule)
                .where(col(FaultRule.id) == rule_id)
                .values(matched=col(FaultRule.matched) + count, hits=col(FaultRule.hits) + count)
            )


def has_pending_hits(engine: Engine) -> bool:
    return bool(state_of(engine).pending)


def fire(
    engine: Engine, candidates: list[ActiveRule], tenant: Tenant | None, seed: int
) -> list[Fired]:
    """Roll every candidate. Tenant rules run on the tenant's clock, global rules on the real
    clock. Conditional rules count in the store (one short transaction, shared by processes);
    unconditional ones in memory, their draws numbered per process."""
    fired = []
    conditional = []
    state = state_of(engine)
    for candidate in candidates:
        if not unconditional(candidate):
            conditional.append(candidate)
            continue
        now = tenant_now(tenant) if candidate.tenant_id and tenant else real_now()
        if not candidate.active_at(now):
            continue
        with _cache_lock:
            state.pending[candidate.id] = state.pending.get(candidate.id, 0) + 1
            state.draws[candidate.id] = draw = state.draws.get(candidate.id, 0) + 1
        rng = seeded_rng(_seed(candidate.rule, seed), "fault", candidate.dice, draw)
        fired.append(Fired(candidate, rng))
    if conditional:
        with session_unit(engine) as session:
            for candidate in conditional:
                now = tenant_now(tenant) if candidate.tenant_id and tenant else real_now()
                result = roll(session, candidate, seed, now)
                if result is not None:
                    fired.append(result)
        fired.sort(key=lambda item: item.rule.id)
    if time.monotonic() - state.last_flush > FLUSH_SECONDS:
        flush_hits(engine)
    return fired
