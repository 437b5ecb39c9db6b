"""Fault injection: rules, matching, seeded dice, profiles, the header, and applying them.

One module per job:

- `rules`: the rule document (what it matches, when it fires, what it does) and its table row;
- `document`: documents of rules and profiles, and the `--faults` file;
- `store`: adding, listing and deleting stored rules;
- `matching`: the per-process cache of the rules and their test of a request;
- `dice`: whether a matching rule fires (seeded, counted in the store or in memory);
- `plan` / `header`: the fired rules and the `X-Simulator-Fault` header as one plan;
- `apply`: the middleware's part (FaultApplier): decide, then delay, answer, drop or damage;
- `network`: the faults below HTTP (the server lends the socket);
- `stream`: faults of work outside requests (CustomerGauge's stream worker).

Each process caches the rule set for a second, so a request that no rule matches costs a list
scan and nothing else. `from simulator.core import faults` gives the names callers use.
"""

from simulator.core.faults.dice import FLUSH_SECONDS, fire, flush_hits, has_pending_hits
from simulator.core.faults.document import PROFILES, load_file, parse_document
from simulator.core.faults.header import parse_header
from simulator.core.faults.matching import active_rules, invalidate
from simulator.core.faults.plan import Plan, add_action, plan_of
from simulator.core.faults.rules import (
    ErrorAction,
    FaultError,
    FaultRule,
    Latency,
    NetworkAction,
    RuleDefinition,
    parse_rule,
)
from simulator.core.faults.store import (
    add_rules,
    delete_rules,
    ensure_table,
    list_rules,
    rule_view,
)
from simulator.core.faults.stream import background_fault
from simulator.core.ids import seeded_rng

__all__ = [
    "FLUSH_SECONDS",
    "PROFILES",
    "ErrorAction",
    "FaultError",
    "FaultRule",
    "Latency",
    "NetworkAction",
    "Plan",
    "RuleDefinition",
    "active_rules",
    "add_action",
    "add_rules",
    "background_fault",
    "delete_rules",
    "ensure_table",
    "fire",
    "flush_hits",
    "has_pending_hits",
    "invalidate",
    "list_rules",
    "load_file",
    "parse_document",
    "parse_header",
    "parse_rule",
    "plan_of",
    "rule_view",
    "seeded_rng",
]
