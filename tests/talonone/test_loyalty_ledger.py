"""The points ledger, service level: lots, FIFO spending, pending/expiry by the clock, negative
balances, session close / cancel / return, and the reconciliation property under random
sequences of operations (Hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from simulator.core.db import new_session
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonSession
from simulator.talonone.models.loyalty import (
    TalonLoyaltyLot,
    TalonLoyaltyProgram,
    TalonLoyaltyTransaction,
)
from simulator.talonone.service.loyalty.balances import (
    available_points,
    delete_profile_data,
    profile_loyalty_block,
)
from simulator.talonone.service.loyalty.cards import generate_card
from simulator.talonone.service.loyalty.programs import program_ids
from simulator.talonone.service.loyalty.session_effects import (
    on_session_change,
    on_session_return,
    session_transactions,
    tentative_card,
)
from simulator.talonone.service.loyalty_ledger import (
    Balance,
    LedgerInputError,
    Origin,
    Owner,
    add_duration,
    add_points,
    balances,
    deduct_points,
    lot_dates,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TENANT = "default"
COUNTER = itertools.count(1)


@pytest.fixture
def db(app: Any) -> Session:
    with new_session(app.state.engine) as session:
        yield session


def make_program(db: Session, **settings_: Any) -> TalonLoyaltyProgram:
    program_id = 100 + next(COUNTER)
    program = TalonLoyaltyProgram(
        tenant_id=TENANT,
        id=program_id,
        name=f"p{program_id}",
        title=f"Program {program_id}",
        subledgers=["food"],
        created=T0,
        **settings_,
    )
    db.add(program)
    db.commit()
    return program


def add(db, program, profile, amount, now=T0, start=None, expiry=None, session_id=None, sub=""):
    dates = lot_dates(program, now, start, expiry)
    origin = Origin(kind="manual", name="test", session_id=session_id)
    return add_points(
        db, TENANT, program, Owner(program.id, profile), sub, amount, now, origin, dates
    )


def deduct(db, program, profile, amount, now=T0, sub=""):
    origin = Origin(kind="manual", name="spend")
    return deduct_points(db, TENANT, program, Owner(program.id, profile), sub, amount, now, origin)


def balance(db, program, profile, at=T0, sub=""):
    return balances(db, TENANT, Owner(program.id, profile), at).get(sub, Balance())


def add_effect(program_id, value, profile="", **props) -> dict:
    return {
        "campaignId": 7,
        "rulesetId": 8,
        "ruleIndex": 0,
        "ruleName": "earn",
        "effectType": "addLoyaltyPoints",
        "props": {
            "programId": program_id,
            "subLedgerId": props.pop("subLedgerId", ""),
            "value": value,
            "recipientIntegrationId": profile,
            "transactionUUID": props.pop("transactionUUID", f"add-{next(COUNTER)}"),
            "name": "Earn",
            **props,
        },
    }


def deduct_effect(program_id, value, **props) -> dict:
    return {
        "campaignId": 7,
        "rulesetId": 8,
        "ruleIndex": 1,
        "ruleName": "burn",
        "effectType": "deductLoyaltyPoints",
        "props": {
            "programId": program_id,
            "subLedgerId": props.pop("subLedgerId", ""),
            "value": value,
            "transactionUUID": props.pop("transactionUUID", f"deduct-{next(COUNTER)}"),
            "name": "Burn",
            "ruleTitle": "burn",
            **props,
        },
    }


def change(db, session_id, profile, previous, state, effects, now=T0, dry=False):
    """The loyalty part's side of a session changing state, then the session saved as the
    core saves it (an open session's row marks its loyalty effects as tentative figures)."""
    result = on_session_change(
        db,
        TENANT,
        now,
        session_id=session_id,
        profile_id=profile,
        previous_state=previous,
        state=state,
        effects=effects,
        dry=dry,
    )
    if not dry:
        save_session_row(db, session_id, profile, state, effects, now)
    db.commit()
    return result


def save_session_row(db, session_id, profile, state, effects, now) -> None:
    row = db.scalars(
        select(TalonSession).where(
            TalonSession.tenant_id == TENANT, TalonSession.integration_id == session_id
        )
    ).first()
    if row is None:
        row = TalonSession(
            tenant_id=TENANT,
            id=100_000 + next(COUNTER),
            integration_id=session_id,
            profile_id=profile or "",
            created=now,
            updated=now,
        )
    row.state, row.effects, row.updated = state, effects, now
    row.tentative_card = tentative_card(effects) if state == "open" else None
    db.add(row)


# --- examples --------------------------------------------------------------------------------


def test_durations_follow_calendar_units() -> None:
    assert add_duration(T0, "30D") == T0 + timedelta(days=30)
    assert add_duration(T0, "2W") == T0 + timedelta(weeks=2)
    assert add_duration(datetime(2030, 1, 31, tzinfo=UTC), "1M") == datetime(
        2030, 2, 28, tzinfo=UTC
    )
    assert add_duration(T0, "1Y") == datetime(2031, 1, 1, 12, tzinfo=UTC)
    with pytest.raises(LedgerInputError):
        add_duration(T0, "30 days")


def test_pending_points_activate_and_active_points_expire_as_the_clock_passes(db) -> None:
    program = make_program(db, default_pending="2D", default_validity="10D")
    add(db, program, "alice", 100)
    db.commit()
    assert balance(db, program, "alice").pending == 100
    assert balance(db, program, "alice").active == 0
    assert balance(db, program, "alice", T0 + timedelta(days=2)).active == 100
    later = balance(db, program, "alice", T0 + timedelta(days=12))
    assert (later.active, later.pending, later.expired) == (0, 0, 100)


def test_deductions_spend_the_soonest_expiring_points_first(db) -> None:
    program = make_program(db)
    add(db, program, "bob", 50, expiry="unlimited")
    add(db, program, "bob", 30, expiry="5D")
    add(db, program, "bob", 20, expiry="3D")
    deduct(db, program, "bob", 40)
    db.commit()
    lots = db.scalars(
        select(TalonLoyaltyLot)
        .where(TalonLoyaltyLot.program_id == program.id)
        .order_by(TalonLoyaltyLot.id)
    ).all()
    assert [lot.remaining for lot in lots] == [50, 10, 0]
    now_balance = balance(db, program, "bob")
    assert (now_balance.active, now_balance.spent) == (60, 40)
    # the 10 left of the 5-day lot expire; the spent points do not count as expired
    assert balance(db, program, "bob", T0 + timedelta(days=6)).expired == 10


def test_a_deduction_is_capped_at_the_active_points_unless_negative_is_allowed(db) -> None:
    capped = make_program(db)
    add(db, capped, "carol", 30)
    result = deduct(db, capped, "carol", 50)
    db.commit()
    assert result.amount == 30
    assert balance(db, capped, "carol").negative == 0
    assert deduct(db, capped, "carol", 5) is None

    negative = make_program(db, allow_negative_balance=True)
    add(db, negative, "carol", 30)
    result = deduct(db, negative, "carol", 50)
    db.commit()
    assert result.transaction.creates_negative is True
    found = balance(db, negative, "carol")
    assert (found.active, found.negative) == (0, 20)
    add(db, negative, "carol", 25)  # repays the debt first
    db.commit()
    found = balance(db, negative, "carol")
    assert (found.active, found.negative, found.spent) == (5, 0, 50)


def test_pending_points_are_not_spendable(db) -> None:
    program = make_program(db)
    add(db, program, "dan", 40, start="3D")
    assert deduct(db, program, "dan", 10) is None
    assert available_points(db, TENANT, T0, program_id=program.id, profile_id="dan") == 0
    later = T0 + timedelta(days=3)
    assert available_points(db, TENANT, later, program_id=program.id, profile_id="dan") == 40


def test_closing_a_session_posts_its_effects_and_open_sessions_are_tentative(db) -> None:
    program = make_program(db)
    add(db, program, "erin", 100)
    db.commit()
    effects = [add_effect(program.id, 20, "erin"), deduct_effect(program.id, 50)]
    assert change(db, "s1", "erin", None, "open", effects) == []
    block = profile_loyalty_block(db, TENANT, T0, "erin")
    ledger = block["programs"][str(program.id)]["ledger"]
    assert ledger["currentBalance"] == 100
    assert ledger["tentativeCurrentBalance"] == 70
    assert change(db, "s1", "erin", "open", "closed", effects) == []
    found = balance(db, program, "erin")
    assert (found.active, found.spent) == (70, 50)
    ledger = profile_loyalty_block(db, TENANT, T0, "erin")["programs"][str(program.id)]
    assert ledger["ledger"]["tentativeCurrentBalance"] == 70
    rows = db.scalars(
        select(TalonLoyaltyTransaction).where(TalonLoyaltyTransaction.session_id == "s1")
    ).all()
    assert sorted((r.type, r.amount, r.kind) for r in rows) == [
        ("addition", 20, "session"),
        ("subtraction", 50, "session"),
    ]


def test_dry_runs_write_nothing(db) -> None:
    program = make_program(db)
    change(db, "dry1", "fay", None, "closed", [add_effect(program.id, 20, "fay")], dry=True)
    assert balance(db, program, "fay").active == 0
    assert not profile_loyalty_block(db, TENANT, T0, "fay")["programs"]


def test_cancelling_a_closed_session_rolls_back_exactly_what_it_posted(db) -> None:
    program = make_program(db)
    add(db, program, "gus", 100)
    db.commit()
    effects = [add_effect(program.id, 20, "gus"), deduct_effect(program.id, 50)]
    change(db, "s2", "gus", "open", "closed", effects)
    extra = change(db, "s2", "gus", "closed", "cancelled", effects)
    kinds = sorted((e["effectType"], e["props"]["value"]) for e in extra)
    assert kinds == [("rollbackAddedLoyaltyPoints", 20), ("rollbackDeductedLoyaltyPoints", 50)]
    assert all(e["props"]["programId"] == program.id for e in extra)
    found = balance(db, program, "gus")
    assert (found.active, found.spent, found.negative) == (100, 0, 0)
    # cancelling again does nothing more
    assert change(db, "s2", "gus", "cancelled", "cancelled", effects) == []


def test_cancelling_an_open_session_posts_nothing(db) -> None:
    program = make_program(db)
    effects = [add_effect(program.id, 20, "hal")]
    change(db, "s3", "hal", None, "open", effects)
    assert change(db, "s3", "hal", "open", "cancelled", effects) == []
    assert balance(db, program, "hal").active == 0


def test_a_return_takes_back_part_of_the_points(db) -> None:
    program = make_program(db)
    effects = [add_effect(program.id, 30, "ivy", transactionUUID="u-ivy")]
    change(db, "s4", "ivy", "open", "closed", effects)
    rollbacks = [
        {
            "effectType": "addLoyaltyPoints",
            "programId": program.id,
            "subLedgerId": "",
            "value": 10,
            "transactionUUID": "u-ivy",
        }
    ]
    extra = on_session_return(
        db, TENANT, T0, session_id="s4", profile_id="ivy", rollbacks=rollbacks
    )
    db.commit()
    assert [(e["effectType"], e["props"]["value"]) for e in extra] == [
        ("rollbackAddedLoyaltyPoints", 10)
    ]
    assert balance(db, program, "ivy").active == 20
    # a later cancel takes back only the remaining 20
    extra = change(db, "s4", "ivy", "partially_returned", "cancelled", effects)
    assert [e["props"]["value"] for e in extra] == [20]
    assert balance(db, program, "ivy").active == 0


def test_card_programs_post_to_the_card_ledger(db) -> None:
    program = make_program(db, card_based=True)
    card = generate_card(db, TENANT, T0, 0, program_id=program.id, identifier="CARD-X1")
    db.commit()
    effects = [add_effect(program.id, 15, "jo", cardIdentifier=card.identifier)]
    change(db, "s5", "jo", "open", "closed", effects)
    owner = Owner(program.id, card_identifier="CARD-X1")
    assert balances(db, TENANT, owner, T0)[""].active == 15
    assert balance(db, program, "jo").active == 0
    assert available_points(db, TENANT, T0, program_id=program.id, card_identifier="CARD-X1") == 15


def test_delete_profile_data_removes_the_profiles_ledger(db) -> None:
    program = make_program(db)
    add(db, program, "kim", 10)
    add(db, program, "lee", 10)
    db.commit()
    delete_profile_data(db, TENANT, "kim")
    db.commit()
    assert balance(db, program, "kim").active == 0
    assert not profile_loyalty_block(db, TENANT, T0, "kim")["programs"]
    assert balance(db, program, "lee").active == 10


def test_program_ids_lists_the_tenants_programs(db) -> None:
    assert {1, 2, 3} <= program_ids(db, TENANT)
    assert program_ids(db, "no-such-tenant") == set()


# --- the reconciliation property ---------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=200)
operation = st.one_of(
    st.tuples(
        st.just("add"),
        amounts,
        st.sampled_from(["immediate", "2D", "on_action"]),
        st.sampled_from(["unlimited", "3D", "10D"]),
    ),
    st.tuples(st.just("deduct"), amounts),
    st.tuples(st.just("close"), amounts, amounts),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("return"), amounts),
    st.tuples(st.just("advance"), st.integers(min_value=1, max_value=5)),
)


def check_ledger(db: Session, program: TalonLoyaltyProgram, profile: str, now: datetime) -> None:
    rows = db.execute(
        select(TalonLoyaltyTransaction.type, func.sum(TalonLoyaltyTransaction.amount))
        .where(
            TalonLoyaltyTransaction.tenant_id == TENANT,
            TalonLoyaltyTransaction.program_id == program.id,
            TalonLoyaltyTransaction.profile_id == profile,
        )
        .group_by(TalonLoyaltyTransaction.type)
    ).all()
    totals = dict(rows)
    net = totals.get("addition", 0.0) - totals.get("subtraction", 0.0)
    found = balance(db, program, profile, now)
    assert found.active >= 0 and found.pending >= 0 and found.expired >= 0 and found.spent >= -1e-6
    assert abs(found.active + found.pending + found.expired - found.negative - net) < 1e-6
    if not program.allow_negative_balance:
        assert found.negative == 0
    lots = db.scalars(
        select(TalonLoyaltyLot).where(
            TalonLoyaltyLot.program_id == program.id, TalonLoyaltyLot.profile_id == profile
        )
    ).all()
    assert all(-1e-9 <= lot.remaining <= lot.amount + 1e-9 for lot in lots)
    assert abs(sum(lot.amount - lot.remaining - lot.revoked for lot in lots) - found.spent) < 1e-6


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(operation, min_size=1, max_size=12),
    allow_negative=st.booleans(),
    deduct_active=st.booleans(),
)
def test_balances_always_reconcile_with_the_transactions(
    db, steps, allow_negative, deduct_active
) -> None:
    program = make_program(
        db, allow_negative_balance=allow_negative, active_points_deduction=deduct_active
    )
    profile = f"prop-{next(COUNTER)}"
    now = T0
    closed: list[str] = []
    for step in steps:
        kind = step[0]
        if kind == "add":
            add(db, program, profile, step[1], now, start=step[2], expiry=step[3])
        elif kind == "deduct":
            deduct(db, program, profile, step[1], now)
        elif kind == "close":
            session_id = f"{profile}-s{len(closed)}"
            effects = [add_effect(program.id, step[1], profile), deduct_effect(program.id, step[2])]
            change(db, session_id, profile, None, "open", effects, now)
            try:
                change(db, session_id, profile, "open", "closed", effects, now)
                closed.append(session_id)
            except TalonOneError as error:
                # A close whose deduction the ledger cannot cover is refused whole, nothing
                # written (the rule engine never makes one: it reads the balance under the
                # ledger's lock).
                assert error.status == 409 and not allow_negative
                db.rollback()
        elif kind == "cancel" and closed:
            change(db, closed.pop(), profile, "closed", "cancelled", [], now)
        elif kind == "return" and closed:
            for original in session_transactions(db, TENANT, closed[-1]):
                on_session_return(
                    db,
                    TENANT,
                    now,
                    session_id=closed[-1],
                    profile_id=profile,
                    rollbacks=[{"transactionUUID": original.uuid, "value": step[1] / 2}],
                )
        elif kind == "advance":
            now = now + timedelta(days=step[1])
        db.commit()
        check_ledger(db, program, profile, now)


def test_cached_totals_follow_the_clock_and_writes_from_other_sessions(app, db) -> None:
    program = make_program(db, default_validity="5D")
    add(db, program, "max", 10)
    add(db, program, "max", 20, start="2D")
    db.commit()
    assert (balance(db, program, "max").active, balance(db, program, "max").pending) == (10, 20)
    later = T0 + timedelta(days=3)
    assert (
        balance(db, program, "max", later).active,
        balance(db, program, "max", later).pending,
    ) == (
        30,
        0,
    )
    assert balance(db, program, "max", T0 + timedelta(days=6)).expired == 10
    assert balance(db, program, "max").active == 10  # back before the boundaries
    with new_session(app.state.engine) as other:  # another worker writes
        other_program = other.get(TalonLoyaltyProgram, (TENANT, program.id))
        add(other, other_program, "max", 5)
        other.commit()
    db.expire_all()
    assert balance(db, program, "max").active == 15
