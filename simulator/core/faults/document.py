"""Rule documents as an operator writes them: a rule, a named profile, a list, `{faults: [...]}`,
or a YAML/JSON file of them (`--faults`)."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from simulator.core.db import new_session
from simulator.core.faults.matching import invalidate
from simulator.core.faults.rules import FaultError, FaultRule, RuleDefinition, parse_rule
from simulator.core.faults.store import add_rules
from simulator.core.store import unit_of_work

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
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    keys = [f"file:{digest}:{index}" for index in range(len(rules))]
    with new_session(engine) as session:
        present = session.execute(
            select(col(FaultRule.id)).where(col(FaultRule.key).in_(keys))
        ).all()
        if len(present) == len(rules) and rules:
            return len(rules)
        # IntegrityError: another worker stored it first (this unit of work is rolled back).
        with contextlib.suppress(IntegrityError), unit_of_work(session):
            session.execute(delete(FaultRule).where(col(FaultRule.key).like("file:%")))
            add_rules(session, rules, source=f"file:{Path(path).name}", keys=keys)
    invalidate()
    return len(rules)
