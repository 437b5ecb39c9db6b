"""Rule documents, the header syntax, operation names and the dice, without HTTP."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from sqlmodel import Session

from simulator.core import faults
from simulator.core.clock import real_now
from simulator.core.db import make_engine
from simulator.core.faults import FaultError, parse_document, parse_header
from simulator.core.registry import api_named


def test_shorthands_expand_to_full_actions() -> None:
    (rule,) = parse_document({"latency": "1.5s", "error": 503})
    assert rule.latency is not None and rule.latency.ms == 1500
    assert rule.error is not None and rule.error.status == 503
    (ranged,) = parse_document({"latency": "100-300ms", "network": "slow"})
    assert (ranged.latency.min_ms, ranged.latency.max_ms) == (100, 300)
    assert ranged.network is not None and ranged.network.duration == 5.0


@pytest.mark.parametrize(
    ("document", "path", "reason"),
    [
        ({"api": "talonone"}, "", "needs an action"),
        ({"error": 200}, "error.status", "greater than or equal to 400"),
        ({"error": 503, "network": "reset"}, "", "not both"),
        ({"latency": {"ms": 5, "median_ms": 5}}, "latency", "exactly one"),
        ({"latency": {"median_ms": 5}}, "latency", "median_ms and sigma"),
        ({"latency": "soon"}, "latency", "not a duration"),
        ({"error": 503, "probability": 1.5}, "probability", "less than or equal to 1"),
        ({"error": 503, "api": "stripe"}, "api", "unknown api 'stripe'"),
        ({"error": 503, "colour": "red"}, "colour", "Extra inputs"),
        ({"network": "explode"}, "network.action", "Input should be"),
        ({"faults": [{"error": 503}, {"error": 99}]}, "faults[1].error.status", "greater"),
        ({"profile": "chaos"}, "profile", "unknown profile"),
        ({"profile": "flaky", "error": 500}, "", "a profile takes only"),
        ({"operation": "stream.process", "error": 500}, "", "belongs to api customergauge"),
    ],
)
def test_bad_rules_are_refused_with_their_path(document: dict, path: str, reason: str) -> None:
    with pytest.raises(FaultError) as caught:
        parse_document(document)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_profiles_expand_with_the_given_scope() -> None:
    rules = parse_document({"profile": "flaky", "api": "talonone", "tenant": "t1"})
    assert [r.error.status if r.error else None for r in rules] == [503, None]
    assert rules[0].probability == 0.05
    assert rules[1].latency is not None and rules[1].latency.median_ms == 120
    assert all(r.api == "talonone" and r.tenant == "t1" for r in rules)
    for name in faults.PROFILES:
        assert parse_document({"profile": name})


def test_header_items_combine() -> None:
    plan = parse_header("latency=1500ms; error=429, retry-after=7")
    assert plan.delay == pytest.approx(1.5)
    assert plan.error is not None and plan.error.status == 429 and plan.error.retry_after == 7
    assert plan.rule_ids == ["header"]
    dropped = parse_header("timeout=2s")
    assert dropped.drop is not None and dropped.drop.duration == 2.0
    assert parse_header("reset, error=503").drop is not None  # drop outranks the error


def test_a_header_range_draws_anew_each_request() -> None:
    delays = [parse_header("latency=100-500ms").delay for _ in range(20)]
    assert all(0.1 <= d <= 0.5 for d in delays)
    assert len(set(delays)) > 10


@pytest.mark.parametrize(
    "value", ["", "bogus", "error=abc", "error=302", "latency=fast", "retry-after=3", "slow=x"]
)
def test_bad_headers_are_refused(value: str) -> None:
    with pytest.raises(FaultError) as caught:
        parse_header(value)
    assert caught.value.path == "X-Simulator-Fault"


def test_precedence_drop_then_error_then_damage_and_delays_add() -> None:
    plan = faults.Plan()
    faults.add_action(plan, "1", 0.2, None, faults.NetworkAction(action="malformed"))
    faults.add_action(plan, "2", 0.3, faults.ErrorAction(status=503), None)
    assert plan.error is not None and plan.network is None
    faults.add_action(plan, "3", 0.0, None, faults.NetworkAction(action="slow"))
    assert plan.error is not None and plan.damage is None  # a damaged body ranks below errors
    faults.add_action(plan, "4", 0.5, None, faults.NetworkAction(action="empty"))
    assert plan.drop is not None and plan.drop.action == "empty"
    assert plan.delay == pytest.approx(1.0)
    assert plan.fault_label == "1,2,3,4"


@pytest.mark.parametrize(
    ("api", "method", "path", "operation"),
    [
        ("talonone", "PUT", "/v2/customer_sessions/s-1", "UpdateCustomerSessionV2"),
        ("talonone", "GET", "/v2/customer_sessions/s-1", "GetCustomerSession"),
        ("talonone", "POST", "/v2/customer_sessions/s-1/returns", "ReturnCartItems"),
        ("talonone", "GET", "/v1/coupon_reservations/customerprofiles/C1", "GetReservedCustomers"),
        ("talonone", "POST", "/v2/events", "TrackEventV2"),
        ("talonone", "GET", "/v9/nothing", None),
        ("talonone", "POST", "/v1/events", None),
        ("customergauge", "POST", "/v4.1/stream/transactional.json", "StreamTransactional"),
        ("customergauge", "GET", "/v4.1/lists/unsubscribe.xml", "GetUnsubscribe"),
        ("customergauge", "GET", "/v4.1/reports/nps.json", None),
        ("ecdp", "GET", "/customers/email/a@b.c", "GetCustomerByEmail"),
        ("ecdp", "POST", "/customers", "PostCustomers"),
        ("ecdp", "DELETE", "/customers/id/1", None),
        ("clienttoolbox", "POST", "/api.php", None),  # its `type` not read yet
    ],
)
def test_the_operation_of_a_request_not_routed_yet_comes_from_its_api_routes(
    api: str, method: str, path: str, operation: str | None
) -> None:
    """What fault rules see before the handler runs (core/registry ApiSpec.operation_for)."""
    found = api_named(api).operation_for({"method": method, "path": path})
    assert (found.name if found is not None else None) == operation


def test_customergauge_answers_to_module_method_too() -> None:
    table = api_named("customergauge").operations
    assert [op.name for op in table.select("stream/transactional")] == ["StreamTransactional"]
    assert [op.name for op in table.select("LISTS/unsubscribe")] == [
        "GetUnsubscribe",
        "PostUnsubscribe",
    ]


def test_lognormal_latency_has_the_asked_median() -> None:
    latency = faults.Latency(median_ms=200, sigma=0.5)
    samples = [latency.sample_seconds(faults.seeded_rng(0, "t", n)) for n in range(2000)]
    assert statistics.median(samples) == pytest.approx(0.2, rel=0.05)
    assert max(samples) > 0.4 and min(samples) < 0.1  # spread, not a constant


# --- the store-backed parts ----------------------------------------------------------------


@pytest.fixture
def engine(client):  # the app's store, with the `default` tenant
    return client.app.state.engine


def store(engine, document: dict, source: str = "admin") -> faults.FaultRule:
    with Session(engine, expire_on_commit=False) as session:
        (row,) = faults.add_rules(session, parse_document(document), source)
        session.commit()
    faults.invalidate()
    return row


def outcomes(engine, rule_id: int, calls: int, seed: int = 0) -> list[bool]:
    (rule,) = [r for r in faults.active_rules(engine) if r.id == rule_id]
    return [bool(faults.fire(engine, [rule], None, seed)) for _ in range(calls)]


def test_after_then_count_limit_the_fires(engine) -> None:
    row = store(engine, {"error": 503, "after": 2, "count": 3})
    assert outcomes(engine, row.id, 7) == [False, False, True, True, True, False, False]
    with Session(engine, expire_on_commit=False) as session:
        stored = session.get(faults.FaultRule, row.id)
        assert (stored.matched, stored.hits) == (7, 3)


def test_dice_repeat_with_the_same_seed_and_differ_with_another(engine, make_settings) -> None:
    first = store(engine, {"error": 503, "probability": 0.5})
    run_a = outcomes(engine, first.id, 40)
    second = store(engine, {"error": 503, "probability": 0.5, "seed": 0})
    # Another rule id draws another sequence; the same rule replayed draws the same one.
    with Session(engine, expire_on_commit=False) as session:
        session.get(faults.FaultRule, first.id).matched = 0
        session.commit()
    assert outcomes(engine, first.id, 40) == run_a
    assert 10 < sum(run_a) < 30
    assert outcomes(engine, second.id, 40) != run_a
    third = store(engine, {"error": 503, "probability": 0.5, "seed": 99})
    assert outcomes(engine, third.id, 40) != outcomes(engine, first.id, 40)


def test_ttl_and_window_bound_a_rule(engine) -> None:
    now = real_now()
    expired = store(engine, {"error": 503, "ttl_seconds": 60})
    (rule,) = [r for r in faults.active_rules(engine) if r.id == expired.id]
    assert rule.active_at(now)
    assert not rule.active_at(now + timedelta(seconds=61))
    later = store(
        engine,
        {"error": 503, "window": {"start": (now + timedelta(hours=1)).isoformat()}},
    )
    assert outcomes(engine, later.id, 2) == [False, False]


def test_ramp_raises_the_probability_over_time(engine) -> None:
    row = store(engine, {"error": 503, "probability": 0.0, "ramp": {"to": 0.5, "seconds": 600}})
    (rule,) = [r for r in faults.active_rules(engine) if r.id == row.id]
    start = rule.created_at
    assert rule.probability_at(start) == 0.0
    assert rule.probability_at(start + timedelta(seconds=300)) == pytest.approx(0.25)
    assert rule.probability_at(start + timedelta(hours=5)) == pytest.approx(0.5)


def test_stream_processing_fault_fires_for_its_tenant_only(client, new_tenant) -> None:
    engine = client.app.state.engine
    other = new_tenant()
    store(
        engine,
        {
            "api": "customergauge",
            "operation": "stream.process",
            "tenant": "default",
            "count": 2,
            "error": {"status": 500, "message": "mail server unavailable"},
        },
    )
    store(
        engine,
        {
            "api": "customergauge",
            "operation": "stream.process",
            "count": 1,
            "error": 500,
            "after": 5,
        },
    )
    with Session(engine, expire_on_commit=False) as session:
        now = real_now()
        assert (
            faults.background_fault(session, "customergauge", "stream.process", other["id"], now)
            is None
        )
        reasons = [
            faults.background_fault(session, "customergauge", "stream.process", "default", now)
            for _ in range(3)
        ]
        session.commit()
    assert reasons == ["mail server unavailable", "mail server unavailable", None]


def test_a_global_rule_without_message_names_itself(client) -> None:
    engine = client.app.state.engine
    row = store(engine, {"api": "customergauge", "operation": "stream.process", "error": 500})
    with Session(engine, expire_on_commit=False) as session:
        reason = faults.background_fault(
            session, "customergauge", "stream.process", "default", real_now()
        )
    assert reason == f"Simulated processing failure (fault rule {row.id})"


def test_stream_rules_never_match_http_requests(client) -> None:
    row = store(
        client.app.state.engine,
        {"api": "customergauge", "operation": "stream.process", "error": 500},
    )
    response = client.post(
        "/v4.1/stream/transactional.json", headers={"Authorization": "api_key cg-sandbox-key"}
    )
    assert response.status_code != 500
    (view,) = client.get("/__admin/faults").json()["faults"]
    assert view["id"] == row.id and view["matched"] == 0


def test_a_store_without_the_table_gets_it(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    faults.ensure_table(engine)
    faults.ensure_table(engine)  # twice is harmless
    with Session(engine, expire_on_commit=False) as session:
        assert faults.list_rules(session) == []
    engine.dispose()
