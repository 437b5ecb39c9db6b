"""Every read of the soak, alone: on 32 connections beside the bare stack, and on one.

Targets (issue 25): at 32 connections every read at >= 50% of the bare stack's req/s (paired
slices) with p99 <= 30 ms; on one connection p99 <= 1 ms with the journal on. The bare stack
on one connection is measured in the same run: one-connection rows compare with it.
"""

from __future__ import annotations

from bench.load import (
    BASELINE_PORT,
    Result,
    baseline_request,
    build_request,
    compared_load,
    run_load,
)
from bench.soak import ECDP, create_read_session, named_kinds

READS = (
    "talonone session read",
    "talonone loyalty balances",
    "ecdp customer by e-mail",
    "ecdp customer by CRM id",
    "clienttoolbox campaign_rewards",
    "clienttoolbox campaigns_list",
    "clienttoolbox customer_find",
    "customergauge unsubscribe list",
)
MISSING_CUSTOMER = "ecdp customer by e-mail (404)"
ONE_CONNECTION_SECONDS = 3.0


def one_connection_row(result: Result, bare: Result | None) -> dict:
    row = {**result.row(), "target": "p99 <= 1 ms"}
    if bare is not None and bare.rps:
        row["vs baseline"] = f"{100 * result.rps / bare.rps:.0f}% of bare, 1 connection"
    return row


async def run(port: int) -> list[dict]:
    await create_read_session(port)
    kinds = named_kinds(port)
    missing = build_request("GET", "/customers/email/nobody@example.com", port, ECDP)
    kinds[MISSING_CUSTOMER] = lambda _n: missing
    rows: list[dict] = []
    bare = None
    if BASELINE_PORT:
        base = BASELINE_PORT[0]
        bare = await run_load(
            "reads: bare stack, 1 connection",
            base,
            baseline_request(base),
            connections=1,
            seconds=ONE_CONNECTION_SECONDS,
        )
        rows.append({**bare.row(), "vs baseline": "100%"})
    for name in (*READS, MISSING_CUSTOMER):
        wide = await compared_load(f"reads: {name}, 32 connections", port, kinds[name])
        rows.append({**wide.row(), "target": ">= 50% of baseline, p99 <= 30 ms"})
        one = await run_load(
            f"reads: {name}, 1 connection",
            port,
            kinds[name],
            connections=1,
            seconds=ONE_CONNECTION_SECONDS,
        )
        rows.append(one_connection_row(one, bare))
    return rows
