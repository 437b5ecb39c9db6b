"""A fault rule: the document an operator writes (what it matches, when it fires, what it does)
and the row that stores it with its counters.

A rule says which requests it matches (api, operation, path pattern, method, tenant, request
headers), when it may fire (probability, `after` calls let through first, at most `count` times,
a time window and a time-to-live) and what it does (latency, an error in the API's own shape, or
a network fault). Rules and their counters live in the `fault_rule` table so every process of a
deployment shares them. The names a rule may give (`api`, `operation`) are those the APIs declare
(core/registry, core/operations): a name no API has is refused, not silently never matched.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import Column, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from simulator.core.clock import parse_instant
from simulator.core.db import UTCDateTime

HEADER_RULE_ID = "header"

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
    api: str | None = Field(default=None, max_length=64)
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

    @field_validator("api")
    @classmethod
    def known_api(cls, value: str | None) -> str | None:
        from simulator.core.registry import API_PACKAGES

        if value is not None and value not in API_PACKAGES:
            raise ValueError(f"unknown api {value!r}; known: {', '.join(API_PACKAGES)}")
        return value

    @field_validator("operation")
    @classmethod
    def declared_operation(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A name (or alias) the rule's API declares, or any API's without an `api`."""
        if value is None:
            return value
        if "api" in info.data:
            declared = declared_operations(info.data["api"])
            if not any(table.select(value) or table.background_of(value) for table in declared):
                where = f"api {info.data['api']}" if info.data["api"] else "any api"
                raise ValueError(f"{where} has no operation {value!r}; " + names_hint(declared))
        return value

    @model_validator(mode="after")
    def has_action(self) -> RuleDefinition:
        if self.latency is None and self.error is None and self.network is None:
            raise ValueError("a rule needs an action: latency, error or network")
        if self.error is not None and self.network is not None:
            raise ValueError("a rule has either an error or a network action, not both")
        owner = background_api(self.operation)
        if owner is not None and self.api != owner:
            raise ValueError(f"operation {self.operation} belongs to api {owner}")
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


def declared_operations(api: str | None) -> list[Any]:
    """The operation tables of `api` (every API's without one)."""
    from simulator.core.registry import api_specs

    return [spec.operations for spec in api_specs() if api is None or spec.name == api]


def names_hint(tables: list[Any]) -> str:
    names = [operation.name for table in tables for operation in table]
    names += [
        f"{name} ({table.api}, outside requests)" for table in tables for name in table.background
    ]
    shown = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
    return f"declared: {shown}"


def background_api(operation: str | None) -> str | None:
    """The API whose work outside requests `operation` names (CustomerGauge's
    `stream.process`), or None for a request's operation."""
    if operation is None:
        return None
    for table in declared_operations(None):
        if table.background_of(operation):
            return table.api
    return None
