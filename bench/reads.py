"""Every read operation of every API alone (the soak's reads, GetCustomerInventory and the
others): on 32 connections beside the bare stack, and on one.

The bare stack serves the same answer as the read (its status, content type and body, taken
from the simulator's first answer and served from memory: bench/baseline.py `/bodies`), so
the ratio is the cost of the read's work, not of its answer's size. Targets (issue 25): at
32 connections every read at >= 50% of the bare stack's req/s (paired slices) with p99 <=
30 ms; on one connection p99 <= 1 ms with the journal on. The bare stack on one connection,
serving the same answer, is measured just before: one-connection rows compare with it.
"""

from __future__ import annotations

from bench.load import (
    BASELINE_PORT,
    Result,
    build_request,
    compared_load,
    run_load,
    same_answer_request,
)
from bench.soak import CG, ECDP, TALON, create_read_session, ct_call, named_kinds

READS = (
    "talonone session read",
    "talonone loyalty balances",
    "ecdp customer by e-mail",
    "ecdp customer by CRM id",
    "clienttoolbox campaign_rewards",
    "clienttoolbox campaigns_list",
    "clienttoolbox customer_find",
    "customergauge unsubscribe list",
    "talonone customer inventory (profile)",
    "talonone customer inventory (every block)",
    "talonone customer inventory (every block, a loyalty member)",
)
# GetCustomerInventory is not in the soak's mix: read alone here, its profile block alone and
# every block, for the default set's richest profile (audiences, three coupons, a referral, a
# giveaway, an achievement tracker; no loyalty ledger), and every block for the default set's
# loyalty member (a program's ledger with a subledger, a card with its own ledger).
INVENTORY = "/v1/customer_profiles/customer-1/inventory"
MEMBER_INVENTORY = "/v1/customer_profiles/loyalty-demo-1/inventory"
EVERY_BLOCK = (
    "profile=true&referrals=true&coupons=true&loyalty=true&giveaways=true&achievements=true"
)
MISSING_CUSTOMER = "ecdp customer by e-mail (404)"
# The read operations the soak does not send, on the default set's data: (name, path, headers).
LOYALTY = "/v1/loyalty_programs/1/profile/loyalty-demo-1"
CARD = "/v1/loyalty_programs/3/cards/CARD-0001"
OTHER_READS = (
    ("talonone loyalty points", f"{LOYALTY}/points", TALON),
    ("talonone loyalty transactions", f"{LOYALTY}/transactions", TALON),
    ("talonone card balances", f"{CARD}/balances", TALON),
    ("talonone card points", f"{CARD}/points", TALON),
    ("talonone card transactions", f"{CARD}/transactions", TALON),
    ("talonone customer achievements", "/v1/customer_profiles/customer-1/achievements", TALON),
    ("talonone reserved customers", "/v1/coupon_reservations/customerprofiles/WALLET-5", TALON),
    ("talonone integration campaigns", "/v1/integration/campaigns", TALON),
    ("ecdp customer by id", "/customers/id/1", ECDP),
    ("ecdp attribute definitions", "/customerattributes", ECDP),
    ("ecdp consent definitions", "/customerconsents", ECDP),
    ("customergauge file status", "/v4.1/file/transactional.json", CG),
)
# ClientToolbox's other read calls: (name, type, fields).
OTHER_CALLS = (
    ("clienttoolbox manage_fields", "manage_fields", {"action": "list"}),
    ("clienttoolbox customer_search", "customer_search", {"first_name": "a"}),
    (
        "clienttoolbox reports",
        "reports",
        {"report": "customers_balances", "campaign_id": "4638472975924871"},
    ),
)
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
    for name, path in (
        ("profile", f"{INVENTORY}?profile=true"),
        ("every block", f"{INVENTORY}?{EVERY_BLOCK}"),
        ("every block, a loyalty member", f"{MEMBER_INVENTORY}?{EVERY_BLOCK}"),
    ):
        inventory = build_request("GET", path, port, TALON)
        kinds[f"talonone customer inventory ({name})"] = lambda _n, request=inventory: request
    for name, path, headers in OTHER_READS:
        other = build_request("GET", path, port, headers)
        kinds[name] = lambda _n, request=other: request
    for name, call, fields in OTHER_CALLS:
        other = ct_call(port, call, **fields)
        kinds[name] = lambda _n, request=other: request
    rows: list[dict] = []
    others = (*(read[0] for read in OTHER_READS), *(call[0] for call in OTHER_CALLS))
    names = (*READS, MISSING_CUSTOMER, *others)
    for number, name in enumerate(names):
        # The bare stack answers what this read answers (status, content type, body).
        same = None
        if BASELINE_PORT:
            same = await same_answer_request(f"read{number}", port, kinds[name](0))
        wide = await compared_load(
            f"reads: {name}, 32 connections", port, kinds[name], baseline=same
        )
        rows.append({**wide.row(), "target": ">= 50% of baseline, p99 <= 30 ms"})
        bare = None
        if same is not None:
            bare = await run_load(
                f"reads: bare stack, {name}'s answer, 1 connection",
                BASELINE_PORT[0],
                same,
                connections=1,
                seconds=ONE_CONNECTION_SECONDS,
            )
            rows.append({**bare.row(), "vs baseline": "100%"})
        one = await run_load(
            f"reads: {name}, 1 connection",
            port,
            kinds[name],
            connections=1,
            seconds=ONE_CONNECTION_SECONDS,
        )
        rows.append(one_connection_row(one, bare))
    return rows
