"""Which rules a request matches: the per-process cache of the stored rules, and each rule's
test of a request's api, method, path and headers (its operation and tenant are tested by the
applier, only when a rule that names one still matches)."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from simulator.core import caches
from simulator.core.db import new_session
from simulator.core.faults.rules import FaultRule, RuleDefinition, background_api

CACHE_SECONDS = 1.0


@dataclass
class ActiveRule:
    id: int
    tenant_id: str | None
    rule: RuleDefinition
    created_at: datetime
    expires_at: datetime | None
    path_pattern: re.Pattern[str] | None
    headers: dict[str, str]
    operation: str | None
    background: bool  # names work outside requests (faults/stream.py), never a request
    dice: str  # the rule's own part of its dice seed: its tenant and definition, not its id

    def matches_request(self, api: str, method: str, path: str, headers: dict[str, str]) -> bool:
        rule = self.rule
        if self.background or (rule.api is not None and rule.api != api):
            return False
        if rule.method is not None and rule.method != method:
            return False
        if self.path_pattern is not None and not self.path_pattern.match(path):
            return False
        for name, pattern in self.headers.items():
            value = headers.get(name)
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        return True

    def active_at(self, now: datetime) -> bool:
        if self.expires_at is not None and now >= self.expires_at:
            return False
        window = self.rule.window
        if window is not None:
            if window.start is not None and now < window.start:
                return False
            if window.end is not None and now >= window.end:
                return False
        return True

    def probability_at(self, now: datetime) -> float:
        rule = self.rule
        if rule.ramp is None:
            return rule.probability
        progress = min(1.0, max(0.0, (now - self.created_at).total_seconds() / rule.ramp.seconds))
        return rule.probability + (rule.ramp.to - rule.probability) * progress


def activate(row: FaultRule) -> ActiveRule:
    rule = RuleDefinition.model_validate_json(row.definition)
    pattern = re.compile(fnmatch.translate(rule.path)) if rule.path else None
    operation = rule.operation.casefold() if rule.operation else None
    return ActiveRule(
        id=row.id or 0,
        tenant_id=row.tenant_id,
        rule=rule,
        created_at=row.created_at,
        expires_at=row.expires_at,
        path_pattern=pattern,
        headers={k.lower(): v for k, v in rule.headers.items()},
        operation=operation,
        background=background_api(operation) is not None,
        dice=dice_key(row.tenant_id, row.definition),
    )


def dice_key(tenant_id: str | None, definition: str) -> str:
    """Rules draw from (seed, tenant, definition, n): a run replays the same on a new store,
    whatever ids its rules get. Two identical rules draw alike; a `seed` tells them apart."""
    return hashlib.sha256(f"{tenant_id}|{definition}".encode()).hexdigest()[:16]


@dataclass
class EngineState:
    """What this process keeps per store: the cached rule set, buffered hit counts and the
    draw numbers of unconditional rules. Keyed by the engine object itself (weakly), so a new
    store never sees another's cache."""

    rules: list[ActiveRule] = field(default_factory=list)
    loaded_at: float | None = None
    pending: dict[int, int] = field(default_factory=dict)
    draws: dict[int, int] = field(default_factory=dict)
    last_flush: float = field(default_factory=time.monotonic)


_states: weakref.WeakKeyDictionary[Engine, EngineState] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def state_of(engine: Engine) -> EngineState:
    with _cache_lock:
        state = _states.get(engine)
        if state is None:
            state = _states[engine] = EngineState()
        return state


def invalidate() -> None:
    """Forget every cached rule set (this process); other processes reload within a second."""
    with _cache_lock:
        for state in _states.values():
            state.loaded_at = None


caches.register(
    "faults.rules",
    "store -> its fault rules, parsed; read again after CACHE_SECONDS, at once in the process "
    "that changed them (`invalidate`)",
    clear=invalidate,
)


def active_rules(engine: Engine) -> list[ActiveRule]:
    """The rule set, cached per process for CACHE_SECONDS."""
    state = state_of(engine)
    if state.loaded_at is not None and time.monotonic() - state.loaded_at < CACHE_SECONDS:
        return state.rules
    from simulator.core.faults.dice import flush_hits

    flush_hits(engine)
    with new_session(engine) as session:
        rows = session.execute(select(FaultRule).order_by(col(FaultRule.id))).scalars().all()
    rules = []
    for row in rows:
        try:
            rules.append(activate(row))
        except ValidationError:  # a row written by another version: skip, never fail requests
            continue
    state.rules, state.loaded_at = rules, time.monotonic()
    return rules
