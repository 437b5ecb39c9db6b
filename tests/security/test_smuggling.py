"""Request smuggling basics stay refused by a real `simulator serve` process: a request whose
length is ambiguous (Content-Length with Transfer-Encoding, two Content-Lengths, a malformed
one) gets 400 and the connection is closed, so a request hidden in its body never runs."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, live_database_url, start_server, stop_server
from tests.security.conftest import BEARER, TOKEN

STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database_url = live_database_url(tmp_path_factory.mktemp("smuggling"), "sim_smuggling")
    live = start_server(database_url, {"SIM_ADMIN_TOKEN": TOKEN})
    yield live
    stop_server(live)


def hidden_request(name: str) -> bytes:
    """What a smuggler hopes the server reads as a second request: a tenant created."""
    body = b'{"name": "' + name.encode() + b'"}'
    return (
        b"POST /__admin/tenants HTTP/1.1\r\nHost: sim\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + b"Content-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def outer(length_headers: list[bytes], body: bytes, path: bytes = b"/customers") -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: sim\r\nx-api-key: ecdp-sandbox-key\r\n"
        b"Content-Type: application/json\r\n"
        + b"".join(h + b"\r\n" for h in length_headers)
        + b"\r\n"
        + body
    )


def exchange(server: LiveServer, raw: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection (or 5 s pass)."""
    host, port = server.url.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def statuses(received: bytes) -> list[int]:
    """The status of every response on the connection, in order."""
    return [int(code) for code in STATUS_LINE.findall(received)]


def tenant_names(server: LiveServer) -> set[str]:
    response = httpx.get(f"{server.url}/__admin/tenants", headers=BEARER, timeout=10)
    return {tenant["name"] for tenant in response.json()["tenants"]}


def chunked(hidden: bytes) -> bytes:
    return b"0\r\n\r\n" + hidden


CASES: dict[str, Any] = {
    # CL.TE: a front end that reads Content-Length forwards everything, this server would read
    # the chunked body as empty and the rest as the next request.
    "CL then TE": lambda hidden: outer(
        [b"Content-Length: " + str(len(chunked(hidden))).encode(), b"Transfer-Encoding: chunked"],
        chunked(hidden),
    ),
    "TE then CL": lambda hidden: outer(
        [b"Transfer-Encoding: chunked", b"Content-Length: " + str(len(chunked(hidden))).encode()],
        chunked(hidden),
    ),
    "CL with obfuscated TE": lambda hidden: outer(
        [b"Content-Length: " + str(len(chunked(hidden))).encode(), b"Transfer-Encoding:  chunked"],
        chunked(hidden),
    ),
    "two different Content-Lengths": lambda hidden: outer(
        [b"Content-Length: 2", b"Content-Length: " + str(2 + len(hidden)).encode()],
        b"{}" + hidden,
    ),
    "two equal Content-Lengths": lambda hidden: outer(
        [b"Content-Length: 2", b"Content-Length: 2"], b"{}" + hidden
    ),
    "Content-Length list": lambda hidden: outer(
        [b"Content-Length: 2, " + str(2 + len(hidden)).encode()], b"{}" + hidden
    ),
    "signed Content-Length": lambda hidden: outer([b"Content-Length: +2"], b"{}" + hidden),
    "TE not chunked last": lambda hidden: outer(
        [b"Transfer-Encoding: chunked, identity", b"Content-Length: 2"], b"{}" + hidden
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_ambiguous_lengths_are_refused_and_nothing_is_smuggled(
    server: LiveServer, case: str
) -> None:
    name = "smuggled-" + case.replace(" ", "-")
    received = exchange(server, CASES[case](hidden_request(name)))
    assert statuses(received)[:1] == [400], received[:300]
    assert 201 not in statuses(received)
    assert name not in tenant_names(server)
    assert httpx.get(f"{server.url}/__admin/health", timeout=5).status_code == 200


def test_a_plain_keep_alive_pair_still_works(server: LiveServer) -> None:
    """The control: two requests honestly framed on one connection are both served (so the
    refusals above are the framing's, not the raw socket's)."""
    first = outer([b"Content-Length: 2"], b"{}")
    received = exchange(server, first + hidden_request("honest-pair"))
    assert statuses(received) == [400, 201]  # ECDP refuses `{}`; the tenant is created
    assert "honest-pair" in tenant_names(server)
