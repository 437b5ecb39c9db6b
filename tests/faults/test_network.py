"""Every action seen by a real HTTP client over TCP, against a real `simulator serve` process
started with fixtures/faults/network.yaml (rules picked by an `X-Chaos` header)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import xmltodict

from tests.conftest import (
    DEFAULT_CREDENTIALS,
    ROOT,
    LiveServer,
    live_database_url,
    start_server,
    stop_server,
)

ECDP = DEFAULT_CREDENTIALS["ecdp"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database_url = live_database_url(tmp_path_factory.mktemp("faults"), "sim_faults")
    faults_file = str(ROOT / "fixtures" / "faults" / "network.yaml")
    live = start_server(database_url, args=["--faults", faults_file, "--seed", "3"])
    yield live
    stop_server(live)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client
    with server.admin() as admin:  # leave only the file's rules
        for rule in admin.get("/__admin/faults").json()["faults"]:
            if rule["source"] == "admin":
                admin.delete(f"/__admin/faults/{rule['id']}")


def chaos(http: httpx.Client, kind: str, **kwargs: Any) -> httpx.Response:
    return http.get("/customers/id/1", headers={**ECDP, "X-Chaos": kind}, **kwargs)


def last_entry(server: LiveServer, path: str) -> dict:
    time.sleep(0.3)  # the journal is flushed a few times a second
    with server.admin() as admin:
        return admin.get("/__admin/requests", params={"path": path, "limit": 1}).json()["requests"][
            0
        ]


def test_the_file_rules_are_loaded(server: LiveServer) -> None:
    with server.admin() as admin:
        rules = admin.get("/__admin/faults").json()["faults"]
    assert {
        r["network"]["action"] if isinstance(r["network"], dict) else r["network"] for r in rules
    } == {"reset", "empty", "timeout", "malformed", "truncated", "slow"}


def test_reset_before_any_byte(server: LiveServer, http: httpx.Client) -> None:
    with pytest.raises(httpx.ReadError, match="reset"):
        chaos(http, "reset")
    entry = last_entry(server, "/customers/id/1")
    assert entry["status"] == 0 and entry["fault"] and entry["tenant"] == "default"
    assert chaos(http, "none").status_code == 200  # the next connection is fine


def test_empty_reply(http: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        chaos(http, "empty")


def test_timeout_holds_the_connection(http: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        chaos(http, "timeout", timeout=httpx.Timeout(5, read=0.5))


def test_malformed_body_with_200(http: httpx.Client) -> None:
    good = chaos(http, "none")
    response = chaos(http, "malformed")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.content != good.content
    with pytest.raises(ValueError):
        response.json()


def test_truncated_body_with_200(http: httpx.Client) -> None:
    with http.stream("GET", "/customers/id/1", headers={**ECDP, "X-Chaos": "truncated"}) as r:
        assert r.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete|complete message"):
            r.read()


def test_slow_body_arrives_in_pieces(server: LiveServer, http: httpx.Client) -> None:
    good = chaos(http, "none").content
    with server.admin() as admin:
        admin.post(
            "/__admin/faults",
            json={"headers": {"X-Chaos": "dribble"}, "network": {"action": "slow", "seconds": 0.5}},
        )
    pieces = []
    with http.stream("GET", "/customers/id/1", headers={**ECDP, "X-Chaos": "dribble"}) as r:
        assert r.status_code == 200
        pieces = list(r.iter_raw())
    assert b"".join(pieces) == good
    assert len(pieces) > 5


@pytest.mark.parametrize("processed", [True, False])
def test_a_reset_after_processing_keeps_the_write(
    server: LiveServer, http: httpx.Client, processed: bool
) -> None:
    email = f"reset-{processed}@example.com".lower()
    with server.admin() as admin:
        admin.post(
            "/__admin/faults",
            json={
                "api": "ecdp",
                "operation": "PostCustomers",
                "count": 1,
                "network": {"action": "reset", "processed": processed},
            },
        )
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": email}]}
    # A fresh connection; the reset may reach the client while it still sends the body, when
    # it reads as an end of stream rather than a reset: either way, no answer.
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)):
        httpx.post(f"{server.url}/customers", json=body, headers=ECDP, timeout=5)
    found = http.get(f"/customers/email/{email}", headers=ECDP)
    assert found.status_code == (200 if processed else 404)


@pytest.mark.parametrize(
    ("path", "method", "headers", "check"),
    [
        (
            "/v4.1/stream/transactional.json",
            "POST",
            DEFAULT_CREDENTIALS["customergauge"],
            lambda r: r.json()["Error"]["Code"] == 500000,
        ),
        (
            "/",
            "POST",
            {},
            lambda r: xmltodict.parse(r.text)["response"]["@status"] == "error",
        ),
        (
            "/v2/customer_sessions/s1",
            "GET",
            DEFAULT_CREDENTIALS["talonone"],
            lambda r: r.json()["StatusCode"] == 503 and r.json()["errors"],
        ),
        (
            "/customers/id/1",
            "GET",
            ECDP,
            lambda r: (
                r.headers["content-type"].startswith("application/problem+json")
                and r.json()["status"] == 503
            ),
        ),
    ],
)
def test_errors_over_tcp_in_each_apis_shape(
    http: httpx.Client, path: str, method: str, headers: dict, check: Any
) -> None:
    response = http.request(method, path, headers={**headers, "X-Simulator-Fault": "error=503"})
    assert response.status_code == 503
    assert check(response), response.text


async def timed_requests(port: int, request: bytes, count: int) -> list[float]:
    """`count` requests one after another on one keep-alive connection, each timed from its
    first byte written to its last byte read (a bare client: little overhead of its own)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    durations = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 404"), head
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            durations.append(time.perf_counter() - started)
    finally:
        writer.close()
    return durations


def test_lognormal_latency_median_over_500_samples(server: LiveServer) -> None:
    with server.admin() as admin:
        admin.post(
            "/__admin/faults",
            json={"headers": {"X-Chaos": "lognormal"}, "latency": {"median_ms": 200, "sigma": 0.5}},
        )
    port = int(server.url.rsplit(":", 1)[1])
    request = (
        # A path no route answers: what is timed is the injected delay, not a lookup.
        "GET /customers/nowhere HTTP/1.1\r\nHost: sim\r\n"
        f"x-api-key: {ECDP['x-api-key']}\r\nX-Chaos: lognormal\r\n\r\n"
    ).encode()

    async def sample() -> list[float]:
        runs = await asyncio.gather(*(timed_requests(port, request, 25) for _ in range(20)))
        return [d for run in runs for d in run]

    durations = asyncio.run(sample())
    assert len(durations) == 500
    assert statistics.median(durations) == pytest.approx(0.2, rel=0.10)
    quartiles = statistics.quantiles(durations, n=4)
    assert quartiles[0] < 0.17 and quartiles[2] > 0.24  # spread as a lognormal, not fixed
    with server.admin() as admin:
        (rule,) = [
            r
            for r in admin.get("/__admin/faults").json()["faults"]
            if r.get("headers") == {"X-Chaos": "lognormal"}
        ]
    assert rule["hits"] == 500


def test_serve_refuses_a_bad_faults_file(tmp_path) -> None:
    bad = tmp_path / "faults.yaml"
    bad.write_text("faults:\n  - {api: ecdp, latency: soon}\n")
    database_url = live_database_url(tmp_path, "sim_faults_bad")
    with pytest.raises(RuntimeError) as caught:
        start_server(database_url, args=["--faults", str(bad)])
    assert "cannot start: faults: faults[0].latency: not a duration" in str(caught.value)
