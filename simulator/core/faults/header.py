"""The per-request header `X-Simulator-Fault`: a fault without a rule."""

from __future__ import annotations

import itertools
import re

from pydantic import ValidationError

from simulator.core.faults.plan import Plan, add_action
from simulator.core.faults.rules import (
    HEADER_RULE_ID,
    NETWORK_ACTIONS,
    ErrorAction,
    FaultError,
    Latency,
    NetworkAction,
    duration_ms,
)
from simulator.core.ids import seeded_rng

_header_draws = itertools.count(1)  # a range in the header draws anew each request, repeatably


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
