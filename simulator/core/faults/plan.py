"""What to do to one request: the fired rules (and the header) folded into one plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.core.faults.dice import Fired
from simulator.core.faults.rules import DAMAGE_ACTIONS, DROP_ACTIONS, ErrorAction, NetworkAction


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
