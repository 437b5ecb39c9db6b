"""Fault injection: rules, matching, seeded dice, profiles and their persistence.

A rule says which requests it matches (api, operation, path pattern, method, tenant, request
headers), when it may fire (probability, `after` calls let through first, at most `count` times,
a time window and a time-to-live) and what it does (latency, an error in the API's own shape, or
a network fault). Rules and their counters live in the `fault_rule` table so every process of a
deployment shares them; each process caches the rule set for a second, so a request that no rule
matches costs a list scan and nothing else.

The middleware (core/middleware.py) applies the result; the CustomerGauge stream worker asks
`stream_processing_fault()`.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Column, Text, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel

from simulator.core.clock import parse_instant, real_now, tenant_now
from simulator.core.db import UTCDateTime, new_session
from simulator.core.ids import seeded_rng
from simulator.core.models import Tenant

API_NAMES = ("customergauge", "clienttoolbox", "talonone", "ecdp")
STREAM_OPERATION = "stream.process"
HEADER_RULE_ID = "header"
CACHE_SECONDS = 1.0

DROP_ACTIONS = ("reset", "empty", "timeout")
DAMAGE_ACTIONS = ("malformed", "truncated", "slow")
NETWORK_ACTIONS = DROP_ACTIONS + DAMAGE_ACTIONS
DEFAULT_NETWORK_SECONDS = {"timeout": 30.0, "slow": 5.0}


class FaultError(ValueError):
    """A refused rule document: where in it and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or '<rule>'}: {reason}")
        self.path, self.reason = path, reason

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


# --- the stored rule -----------------------------------------------------------------------


class FaultRule(SQLModel, table=True):
    """One rule; `tenant_id` is None for a global rule. Counters are shared by processes."""

    __tablename__ = "fault_rule"

    id: int | None = SQLField(default=None, primary_key=True)
    tenant_id: str | None = SQLField(default=None, index=True, max_length=64)
    # Rules of a faults file carry a key, so several workers loading one file store it once.
    key: str | None = SQLField(default=None, unique=True, max_length=200)
    source: str = SQLField(default="admin", max_length=200)
    definition: str = SQLField(default="{}", sa_column=Column(Text, nullable=False))
    matched: int = 0
    hits: int = 0
    created_at: datetime = SQLField(sa_type=UTCDateTime)
    expires_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)


# --- the rule document ---------------------------------------------------------------------

Strict = ConfigDict(defer_build=True, extra="forbid")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")
RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*-\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


def duration_ms(text: str) -> float:
    """`1500ms`, `1.5s` or a bare number of milliseconds."""
    found = DURATION.match(text)
    if not found:
        raise ValueError(f"not a duration: {text!r} (write e.g. 1500ms or 1.5s)")
    value = float(found.group(1))
    return value * 1000 if found.group(2) == "s" else value


class Latency(BaseModel):
    """Exactly one shape: `ms` (fixed), `min_ms`+`max_ms` (uniform), `median_ms`+`sigma`
    (lognormal). A string is a shorthand: `1500ms`, `1.5s`, `100-500ms`."""

    model_config = Strict

    ms: float | None = Field(default=None, ge=0, le=600_000)
    min_ms: float | None = Field(default=None, ge=0, le=600_000)
    max_ms: float | None = Field(default=None, ge=0, le=600_000)
    median_ms: float | None = Field(default=None, gt=0, le=600_000)
    sigma: float | None = Field(default=None, ge=0, le=5)

    @model_validator(mode="before")
    @classmethod
    def shorthand(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"ms": value}
        if isinstance(value, str):
            ranged = RANGE.match(value)
            if ranged:
                unit = ranged.group(4) or ranged.group(2)
                scale = 1000 if unit == "s" else 1
                return {
                    "min_ms": float(ranged.group(1)) * scale,
                    "max_ms": float(ranged.group(3)) * scale,
                }
            return {"ms": duration_ms(value)}
        return value

    @model_validator(mode="after")
    def one_shape(self) -> Latency:
        fixed = self.ms is not None
        uniform = self.min_ms is not None or self.max_ms is not None
        lognormal = self.median_ms is not None or self.sigma is not None
        if fixed + uniform + lognormal != 1:
            raise ValueError("give exactly one of: ms | min_ms and max_ms | median_ms and sigma")
        if uniform and (self.min_ms is None or self.max_ms is None or self.min_ms > self.max_ms):
            raise ValueError("a uniform latency needs min_ms <= max_ms")
        if lognormal and (self.median_ms is None or self.sigma is None):
            raise ValueError("a lognormal latency needs median_ms and sigma")
        return self

    def sample_seconds(self, rng: Any) -> float:
        if self.ms is not None:
            value = self.ms
        elif self.median_ms is not None:
            value = rng.lognormvariate(math.log(self.median_ms), self.sigma or 0.0)
        else:
            value = rng.uniform(self.min_ms or 0.0, self.max_ms or 0.0)
        return min(value, 600_000) / 1000


class ErrorAction(BaseModel):
    """An answer in the API's own error shape. `code` overrides the API's native code
    (CustomerGauge `Code`); `retry_after` (seconds) adds `Retry-After` (default 1 on a 429)."""

    model_config = Strict

    status: int = Field(ge=400, le=599)
    message: str | None = Field(default=None, max_length=2000)
    code: int | str | None = None
    retry_after: int | None = Field(default=None, ge=0, le=86_400)
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def shorthand(cls, value: Any) -> Any:
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            try:
                return {"status": int(value)}
            except ValueError:
                raise ValueError(f"not an HTTP status: {value!r}") from None
        return value


class NetworkAction(BaseModel):
    """A fault below HTTP. `seconds`: how long `timeout` holds the connection (default 30) or
    `slow` dribbles the body (default 5). `processed`: the request is handled first (its writes
    happen) and only the answer is lost; applies to reset, empty and timeout."""

    model_config = Strict

    action: Literal["reset", "empty", "timeout", "malformed", "truncated", "slow"]
    seconds: float | None = Field(default=None, ge=0, le=3600)
    processed: bool = False

    @model_validator(mode="before")
    @classmethod
    def shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"action": value}
        return value

    @property
    def duration(self) -> float:
        if self.seconds is not None:
            return self.seconds
        return DEFAULT_NETWORK_SECONDS.get(self.action, 0.0)


class Window(BaseModel):
    model_config = Strict

    start: datetime | None = None
    end: datetime | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def instant(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_instant(value)
        if isinstance(value, datetime):
            return parse_instant(value.isoformat())
        return value


class Ramp(BaseModel):
    """The probability moves linearly from `probability` to `to` over `seconds` since the rule
    was created (on the clock the rule uses)."""

    model_config = Strict

    to: float = Field(ge=0, le=1)
    seconds: float = Field(gt=0, le=10 * 365 * 86_400)


class RuleDefinition(BaseModel):
    model_config = Strict

    name: str | None = Field(default=None, max_length=200)
    tenant: str | None = Field(default=None, max_length=64)
    api: Literal["customergauge", "clienttoolbox", "talonone", "ecdp"] | None = None
    operation: str | None = Field(default=None, min_length=1, max_length=200)
    path: str | None = Field(default=None, min_length=1, max_length=2000)
    method: str | None = Field(default=None, min_length=1, max_length=10)
    headers: dict[str, str] = Field(default_factory=dict)
    probability: float = Field(default=1.0, ge=0, le=1)
    ramp: Ramp | None = None
    count: int | None = Field(default=None, ge=1)
    after: int = Field(default=0, ge=0)
    window: Window | None = None
    ttl_seconds: float | None = Field(default=None, gt=0)
    seed: int | None = None
    latency: Latency | None = None
    error: ErrorAction | None = None
    network: NetworkAction | None = None

    @field_validator("method")
    @classmethod
    def upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @model_validator(mode="after")
    def has_action(self) -> RuleDefinition:
        if self.latency is None and self.error is None and self.network is None:
            raise ValueError("a rule needs an action: latency, error or network")
        if self.error is not None and self.network is not None:
            raise ValueError("a rule has either an error or a network action, not both")
        if (self.operation or "").lower() == STREAM_OPERATION and self.api != "customergauge":
            raise ValueError(f"operation {STREAM_OPERATION} belongs to api customergauge")
        return self


def validation_error(exc: ValidationError, prefix: str = "") -> FaultError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    path = ".".join(p for p in (prefix, where) if p)
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return FaultError(path, message)


def parse_rule(document: Any, where: str = "") -> RuleDefinition:
    if not isinstance(document, dict):
        raise FaultError(where, "a rule is a mapping")
    try:
        return RuleDefinition.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc, where) from None


# --- profiles --------------------------------------------------------------------------------

PROFILES: dict[str, dict[str, Any]] = {
    "flaky": {
        "description": "5% of calls fail with 503; every call gets lognormal latency "
        "(median 120 ms, sigma 0.6)",
        "rules": [
            {"probability": 0.05, "error": {"status": 503}},
            {"latency": {"median_ms": 120, "sigma": 0.6}},
        ],
    },
    "slow": {
        "description": "every call gets lognormal latency (median 2 s, sigma 0.4)",
        "rules": [{"latency": {"median_ms": 2000, "sigma": 0.4}}],
    },
    "outage": {
        "description": "every call fails with 503 (Retry-After: 30)",
        "rules": [{"error": {"status": 503, "retry_after": 30}}],
    },
    "degraded": {
        "description": "the 503 rate ramps from 0% to 50% over 10 minutes; lognormal latency "
        "(median 500 ms, sigma 0.5)",
        "rules": [
            {"probability": 0.0, "ramp": {"to": 0.5, "seconds": 600}, "error": {"status": 503}},
            {"latency": {"median_ms": 500, "sigma": 0.5}},
        ],
    },
}
PROFILE_MATCH_FIELDS = ("tenant", "api", "operation", "path", "method", "headers", "seed")


def expand_profile(document: dict[str, Any], where: str = "") -> list[RuleDefinition]:
    """`{profile: flaky, api?, tenant?, ...}`: the profile's rules, scoped by the given fields."""
    name = document.get("profile")
    if name not in PROFILES:
        raise FaultError(
            f"{where}.profile".lstrip("."),
            f"unknown profile {name!r}; known: " + ", ".join(PROFILES),
        )
    extra = set(document) - {"profile", *PROFILE_MATCH_FIELDS}
    if extra:
        raise FaultError(
            where,
            f"a profile takes only {', '.join(PROFILE_MATCH_FIELDS)}; "
            f"not {', '.join(sorted(extra))}",
        )
    scope = {k: v for k, v in document.items() if k != "profile"}
    return [
        parse_rule({**rule, **scope, "name": f"profile:{name}"}, where)
        for rule in PROFILES[name]["rules"]
    ]


def parse_document(document: Any, where: str = "") -> list[RuleDefinition]:
    """A rule, a profile, a list of them, or `{faults: [...]}`."""
    if isinstance(document, dict) and "faults" in document:
        if set(document) != {"faults"}:
            raise FaultError(where, "a document with `faults` has no other keys")
        return parse_document(document["faults"], f"{where}.faults".lstrip("."))
    if isinstance(document, list):
        rules: list[RuleDefinition] = []
        for index, item in enumerate(document):
            rules.extend(parse_document(item, f"{where}[{index}]"))
        return rules
    if isinstance(document, dict) and "profile" in document:
        return expand_profile(document, where)
    return [parse_rule(document, where)]


# --- storage ---------------------------------------------------------------------------------


def ensure_table(engine: Engine) -> None:
    """Create the table in a store made before it existed (create_all makes it in a new one)."""
    FaultRule.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]


def definition_json(rule: RuleDefinition) -> str:
    return rule.model_dump_json(exclude_none=True, exclude_defaults=True)


def add_rules(
    session: Session,
    rules: list[RuleDefinition],
    source: str = "admin",
    keys: list[str] | None = None,
) -> list[FaultRule]:
    """Store rules (the caller commits). A tenant rule's TTL runs on that tenant's clock."""
    rows = []
    tenants: dict[str, Tenant] = {}
    for index, rule in enumerate(rules):
        tenant = None
        if rule.tenant is not None:
            tenant = tenants.get(rule.tenant) or session.get(Tenant, rule.tenant)
            if tenant is None:
                raise FaultError(f"[{index}].tenant", f"no tenant {rule.tenant!r}")
            tenants[rule.tenant] = tenant
        now = tenant_now(tenant) if tenant is not None else real_now()
        expires = now + timedelta(seconds=rule.ttl_seconds) if rule.ttl_seconds else None
        row = FaultRule(
            tenant_id=rule.tenant,
            key=keys[index] if keys else None,
            source=source,
            definition=definition_json(rule),
            created_at=now,
            expires_at=expires,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def load_file(engine: Engine, path: str) -> int:
    """Store the rules of a YAML/JSON file once: workers loading the same file share them.

    The rules of an earlier, different file are replaced. Returns how many rules it holds.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FaultError("", f"{path}: not YAML/JSON: {exc}") from None
    rules = parse_document(document if document is not None else [])
    import hashlib

    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    keys = [f"file:{digest}:{index}" for index in range(len(rules))]
    with new_session(engine) as session:
        present = session.execute(
            select(FaultRule.id).where(FaultRule.key.in_(keys))  # type: ignore[union-attr]
        ).all()
        if len(present) == len(rules) and rules:
            return len(rules)
        session.execute(delete(FaultRule).where(FaultRule.key.like("file:%")))  # type: ignore[union-attr]
        try:
            add_rules(session, rules, source=f"file:{Path(path).name}", keys=keys)
            session.commit()
        except IntegrityError:  # another worker stored it first
            session.rollback()
    invalidate()
    return len(rules)


def list_rules(session: Session, tenant_id: str | None = None) -> list[FaultRule]:
    """Stored rules with up-to-date counts (this process's buffered ones added first)."""
    flush_hits(session.get_bind())  # type: ignore[arg-type]
    statement = select(FaultRule).order_by(FaultRule.id)
    if tenant_id is not None:
        statement = statement.where(FaultRule.tenant_id == tenant_id)
    return list(session.execute(statement).scalars())


def delete_rules(session: Session, tenant_id: str | None = None, rule_id: int | None = None) -> int:
    statement = delete(FaultRule)
    if tenant_id is not None:
        statement = statement.where(FaultRule.tenant_id == tenant_id)
    if rule_id is not None:
        statement = statement.where(FaultRule.id == rule_id)
    count = session.execute(statement).rowcount
    session.commit()
    invalidate()
    return count


def rule_view(row: FaultRule) -> dict[str, Any]:
    from simulator.core.clock import format_instant

    definition = json.loads(row.definition)
    definition.pop("tenant", None)
    return {
        "id": row.id,
        "tenant": row.tenant_id,
        "source": row.source,
        **definition,
        "hits": row.hits,
        "matched": row.matched,
        "created": format_instant(row.created_at),
        "expires": format_instant(row.expires_at) if row.expires_at else None,
    }


# --- the per-process cache -------------------------------------------------------------------


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
    stream: bool
    dice: str  # the rule's own part of its dice seed: its tenant and definition, not its id

    def matches_request(self, api: str, method: str, path: str, headers: dict[str, str]) -> bool:
        rule = self.rule
        if self.stream or (rule.api is not None and rule.api != api):
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
        stream=operation == STREAM_OPERATION,
        dice=dice_key(row.tenant_id, row.definition),
    )


def dice_key(tenant_id: str | None, definition: str) -> str:
    """Rules draw from (seed, tenant, definition, n): a run replays the same on a new store,
    whatever ids its rules get. Two identical rules draw alike; a `seed` tells them apart."""
    import hashlib

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


def active_rules(engine: Engine) -> list[ActiveRule]:
    """The rule set, cached per process for CACHE_SECONDS."""
    state = state_of(engine)
    if state.loaded_at is not None and time.monotonic() - state.loaded_at < CACHE_SECONDS:
        return state.rules
    flush_hits(engine)
    with new_session(engine) as session:
        rows = session.execute(select(FaultRule).order_by(FaultRule.id)).scalars().all()
    rules = []
    for row in rows:
        try:
            rules.append(activate(row))
        except ValidationError:  # a row written by another version: skip, never fail requests
            continue
    state.rules, state.loaded_at = rules, time.monotonic()
    return rules


# --- firing ----------------------------------------------------------------------------------


@dataclass
class Fired:
    rule: ActiveRule
    rng: Any


def roll(session: Session, candidate: ActiveRule, seed: int, now: datetime) -> Fired | None:
    """Count the match, then decide with the rule's dice; the caller commits.

    The n-th match of a rule always draws the same number (seed, rule id, n), in any process.
    """
    rule = candidate.rule
    if not candidate.active_at(now):
        return None
    probability = candidate.probability_at(now)
    limit = FaultRule.hits < rule.count if rule.count is not None else True
    if rule.after == 0 and probability >= 1.0:
        # One statement: count the match and the hit unless the rule is used up.
        row = session.execute(
            update(FaultRule)
            .where(FaultRule.id == candidate.id, limit)
            .values(matched=FaultRule.matched + 1, hits=FaultRule.hits + 1)
            .returning(FaultRule.matched)
        ).first()
        if row is None:  # used up: still counted as a match
            session.execute(
                update(FaultRule)
                .where(FaultRule.id == candidate.id)
                .values(matched=FaultRule.matched + 1)
            )
            return None
        return Fired(candidate, seeded_rng(_seed(rule, seed), "fault", candidate.dice, row[0]))
    matched = session.execute(
        update(FaultRule)
        .where(FaultRule.id == candidate.id)
        .values(matched=FaultRule.matched + 1)
        .returning(FaultRule.matched)
    ).scalar_one_or_none()
    if matched is None or matched <= rule.after:
        return None
    rng = seeded_rng(_seed(rule, seed), "fault", candidate.dice, matched)
    if rng.random() >= probability:
        return None
    hit = session.execute(
        update(FaultRule)
        .where(FaultRule.id == candidate.id, limit)
        .values(hits=FaultRule.hits + 1)
        .returning(FaultRule.hits)
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
    with new_session(engine) as session:
        for rule_id, count in sorted(mine.items()):
            session.execute(
                update(FaultRule)
                .where(FaultRule.id == rule_id)
                .values(matched=FaultRule.matched + count, hits=FaultRule.hits + count)
            )
        session.commit()


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
        with new_session(engine) as session:
            for candidate in conditional:
                now = tenant_now(tenant) if candidate.tenant_id and tenant else real_now()
                result = roll(session, candidate, seed, now)
                if result is not None:
                    fired.append(result)
            session.commit()
        fired.sort(key=lambda item: item.rule.id)
    if time.monotonic() - state.last_flush > FLUSH_SECONDS:
        flush_hits(engine)
    return fired


@dataclass
class Plan:
    """What to do to one request: total delay, then at most one error or network action."""

    delay: float = 0.0
    error: ErrorAction | None = None
    network: NetworkAction | None = None
    rule_ids: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.rule_ids

    @property
    def drop(self) -> NetworkAction | None:
        if self.network is not None and self.network.action in DROP_ACTIONS:
            return self.network
        return None

    @property
    def damage(self) -> NetworkAction | None:
        if self.network is not None and self.network.action in DAMAGE_ACTIONS:
            return self.network
        return None

    @property
    def fault_label(self) -> str | None:
        return ",".join(self.rule_ids)[:200] if self.rule_ids else None


def precedence(plan: Plan) -> int:
    if plan.drop is not None:
        return 3
    if plan.error is not None:
        return 2
    if plan.damage is not None:
        return 1
    return 0


def add_action(
    plan: Plan,
    rule_id: str,
    latency_seconds: float,
    error: ErrorAction | None,
    network: NetworkAction | None,
) -> None:
    """Delays add; of the other actions the strongest wins: drop > error > damaged body."""
    plan.rule_ids.append(rule_id)
    plan.delay += latency_seconds
    candidate = Plan(error=error, network=network)
    if precedence(candidate) > precedence(plan):
        plan.error, plan.network = error, network


def plan_of(fired: list[Fired], plan: Plan | None = None) -> Plan:
    plan = plan or Plan()
    for item in fired:
        rule = item.rule.rule
        latency = rule.latency.sample_seconds(item.rng) if rule.latency is not None else 0.0
        add_action(plan, str(item.rule.id), latency, rule.error, rule.network)
    return plan


_header_draws = itertools.count(1)  # a range in the header draws anew each request, repeatably

# --- the per-request header ------------------------------------------------------------------


def parse_header(value: str, seed: int = 0) -> Plan:
    """`X-Simulator-Fault: error=503, latency=1500ms, reset` (items separated by `,` or `;`).

    Items: error=STATUS, retry-after=SECONDS, latency=DURATION|MIN-MAX, reset, empty,
    timeout[=DURATION], malformed, truncated, slow[=DURATION].
    """
    latency = 0.0
    error: ErrorAction | None = None
    network: NetworkAction | None = None
    retry_after: int | None = None
    items = [item.strip() for item in re.split(r"[;,]", value) if item.strip()]
    if not items:
        raise FaultError("X-Simulator-Fault", "empty")
    rng = seeded_rng(seed, "header", value, next(_header_draws))
    for item in items:
        name, _, argument = item.partition("=")
        name, argument = name.strip().lower(), argument.strip()
        try:
            if name == "error":
                error = ErrorAction(status=int(argument))
            elif name == "retry-after":
                retry_after = int(argument)
            elif name == "latency":
                latency += Latency.model_validate(argument).sample_seconds(rng)
            elif name in NETWORK_ACTIONS:
                seconds = duration_ms(argument) / 1000 if argument else None
                network = NetworkAction(action=name, seconds=seconds)  # type: ignore[arg-type]
            else:
                raise ValueError(f"unknown item {name!r}")
        except (ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise FaultError("X-Simulator-Fault", f"{item}: {reason}") from None
    if retry_after is not None:
        if error is None:
            raise FaultError("X-Simulator-Fault", "retry-after needs error=STATUS")
        error = error.model_copy(update={"retry_after": retry_after})
    plan = Plan()
    add_action(plan, HEADER_RULE_ID, latency, error, network)
    return plan


# --- the operation of a request, derived from method and path --------------------------------

# Talon.One Integration API: (method, path template, operationId). The OpenAPI document, when
# present, adds what it knows; this table covers the 29 operations without it.
TALONONE_OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("POST", "/v2/audiences", "CreateAudienceV2"),
    ("PUT", "/v2/audiences/{audienceId}", "UpdateAudienceV2"),
    ("DELETE", "/v2/audiences/{audienceId}", "DeleteAudienceV2"),
    ("DELETE", "/v2/audiences/{audienceId}/memberships", "DeleteAudienceMembershipsV2"),
    ("PUT", "/v2/audience_customers/{audienceId}/attributes", "UpdateAudienceCustomersAttributes"),
    ("POST", "/v2/customer_audiences", "UpdateCustomerProfileAudiences"),
    ("POST", "/v1/coupon_reservations/{couponValue}", "CreateCouponReservation"),
    ("DELETE", "/v1/coupon_reservations/{couponValue}", "DeleteCouponReservation"),
    ("GET", "/v1/coupon_reservations/customerprofiles/{couponValue}", "GetReservedCustomers"),
    ("POST", "/v1/referrals", "CreateReferral"),
    ("POST", "/v1/referrals_for_multiple_advocates", "CreateReferralsForMultipleAdvocates"),
    ("DELETE", "/v1/customer_data/{integrationId}", "DeleteCustomerData"),
    ("POST", "/v1/loyalty_programs/{loyaltyProgramId}/cards", "GenerateLoyaltyCard"),
    (
        "POST",
        "/v2/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/link_profile",
        "LinkLoyaltyCardToProfile",
    ),
    (
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/profile/{integrationId}/balances",
        "GetLoyaltyBalances",
    ),
    (
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/balances",
        "GetLoyaltyCardBalances",
    ),
    (
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/points",
        "GetLoyaltyCardPoints",
    ),
    (
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/transactions",
        "GetLoyaltyCardTransactions",
    ),
    (
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/profile/{integrationId}/points",
        "GetLoyaltyProgramProfilePoints",
    ),
    (
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/profile/{integrationId}/transactions",
        "GetLoyaltyProgramProfileTransactions",
    ),
    ("GET", "/v1/customer_profiles/{integrationId}/inventory", "GetCustomerInventory"),
    ("GET", "/v2/customer_sessions/{customerSessionId}", "GetCustomerSession"),
    ("PUT", "/v2/customer_sessions/{customerSessionId}", "UpdateCustomerSessionV2"),
    ("PUT", "/v2/customer_sessions/{customerSessionId}/reopen", "ReopenCustomerSession"),
    ("POST", "/v2/customer_sessions/{customerSessionId}/returns", "ReturnCartItems"),
    ("PUT", "/v1/catalogs/{catalogId}/sync", "SyncCatalog"),
    ("POST", "/v2/events", "TrackEventV2"),
    ("PUT", "/v2/customer_profiles/{integrationId}", "UpdateCustomerProfileV2"),
    ("PUT", "/v2/customer_profiles", "UpdateCustomerProfilesV2"),
)

CUSTOMERGAUGE_OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "stream/transactional"): "StreamTransactional",
    ("GET", "file/transactional"): "FileTransactional",
    ("GET", "lists/unsubscribe"): "GetUnsubscribe",
    ("POST", "lists/unsubscribe"): "PostUnsubscribe",
    ("GET", "lists/bounce"): "GetBounce",
}

ECDP_OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("POST", "/customers", "AddOrUpdateCustomers"),
    ("GET", "/customers/id/{x}", "GetCustomerById"),
    ("GET", "/customers/email/{x:path}", "GetCustomerByEmail"),
    ("GET", "/customers/phone/{x:path}", "GetCustomerByPhone"),
    ("GET", "/customers/crmId/{x:path}", "GetCustomerByCrmId"),
    ("GET", "/customerattributes", "GetCustomerAttributes"),
    ("GET", "/customerconsents", "GetCustomerConsents"),
)


def template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        (".+" if part.endswith(":path}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{regex}/?$")


def talon_spec_path() -> Path:
    import os

    configured = os.environ.get("SIM_TALON_SPEC")
    if configured:
        return Path(configured)
    from simulator.config import PROJECT_ROOT

    return PROJECT_ROOT.parent / "shared" / "api" / "talon_one_openapi.json"


@lru_cache(maxsize=1)
def talon_routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """Built-in templates first, then any the OpenAPI document adds (loaded once, if present)."""
    routes = [(m, template_pattern(t), op) for m, t, op in TALONONE_OPERATIONS]
    known = {(m, t) for m, t, _ in TALONONE_OPERATIONS}
    return tuple(routes + spec_routes(known))


def spec_routes(known: set[tuple[str, str]]) -> list[tuple[str, re.Pattern[str], str]]:
    """The OpenAPI document's operations not in `known`; none when it cannot be read."""
    try:
        spec = json.loads(talon_spec_path().read_text(encoding="utf-8"))
        paths = spec.get("paths", {})
    except (OSError, ValueError, AttributeError):
        return []
    routes = []
    for template, item in paths.items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            if (method.upper(), template) in known:
                continue
            op_id = operation["operationId"]
            routes.append(
                (method.upper(), template_pattern(template), op_id[:1].upper() + op_id[1:])
            )
    return routes


@lru_cache(maxsize=1)
def ecdp_routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    return tuple((m, template_pattern(t), op) for m, t, op in ECDP_OPERATIONS)


def operation_from_path(api: str, method: str, path: str) -> str | None:
    """The operation name of a request from its method and path (ClientToolbox: None, its
    operation is the `type` field)."""
    if api == "talonone":
        routes = talon_routes()
    elif api == "ecdp":
        routes = ecdp_routes()
    elif api == "customergauge":
        if path == "/oauth2/token":
            return "OAuth2Token"
        name = path.removeprefix("/v4.1/").removesuffix(".json").removesuffix(".xml").strip("/")
        return CUSTOMERGAUGE_OPERATIONS.get((method, name))
    else:
        return None
    for route_method, pattern, operation in routes:
        if route_method == method and pattern.match(path):
            return operation
    return None


def operation_aliases(api: str, method: str, path: str, operation: str | None) -> set[str]:
    """Every name a rule may use for this operation, case-folded (CustomerGauge also answers
    to `module/method`, e.g. `stream/transactional`)."""
    names = {operation.casefold()} if operation else set()
    if api == "customergauge" and path.startswith("/v4.1/"):
        names.add(
            path.removeprefix("/v4.1/")
            .removesuffix(".json")
            .removesuffix(".xml")
            .strip("/")
            .casefold()
        )
    return names


# --- the stream queue ------------------------------------------------------------------------


def stream_processing_fault(db: Session, tenant_id: str, now: datetime) -> str | None:
    """Asked by the CustomerGauge stream worker before it processes a queued item: a failure
    reason when a rule `{api: customergauge, operation: stream.process}` fires (the worker
    retries the item), else None. `now` is the tenant's clock; global rules use it too here.
    The caller's transaction carries the counters (commit it with the item's state)."""
    from simulator.config import get_settings

    engine = db.get_bind()
    candidates = [
        rule
        for rule in active_rules(engine)  # type: ignore[arg-type]
        if rule.stream and (rule.tenant_id is None or rule.tenant_id == tenant_id)
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


# --- answers in each API's own shape ---------------------------------------------------------

DEFAULT_MESSAGES = {
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "Gateway timeout",
}
# Documented on UpdateCustomerSessionV2, UpdateCustomerProfileV2 and TrackEventV2.
TALONONE_409 = "Too many requests or limit reached - Avoid parallel requests"


def error_message(api: str, error: ErrorAction) -> str:
    from simulator.core.errors import reason

    if error.message:
        return error.message
    if api == "talonone" and error.status == 409:
        return TALONONE_409
    return DEFAULT_MESSAGES.get(error.status, reason(error.status))


def error_response(api: str, request: Any, error: ErrorAction) -> Any:
    """The API's own error body for an injected error, with `Retry-After` where asked (and
    always on a 429). A CustomerGauge `code` replaces the renderer's code by status."""
    from simulator.core.formats import json_response, xml_response
    from simulator.core.registry import api_for_path

    message = error_message(api, error)
    spec = api_for_path(request.url.path)
    if api == "customergauge" and error.code is not None:
        content = {"Message": message, "Code": error.code}
        if request.url.path.endswith(".xml"):
            response = xml_response("Error", content, status=error.status)
        else:
            response = json_response({"Error": content}, status=error.status)
    elif spec is not None:
        response = spec.render_error(request, error.status, message)
    else:
        response = json_response({"error": message, "status": error.status}, error.status)
    retry_after = error.retry_after
    if retry_after is None and error.status == 429:
        retry_after = 1
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def malformed(body: bytes) -> bytes:
    """The body cut short and followed by bytes no JSON or XML parser accepts."""
    keep = max(1, len(body) * 2 // 3) if body else 0
    return body[:keep] + b"\x00\xff<<garbled"
