"""An answer's head and body leave in one write (server.OneWriteTransport, ADR 0005).

The transport alone, against a transport that records what it is asked to send; then uvicorn
serving real connections through the protocol, counting the writes that reach the socket."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from simulator.server import FaultHttpProtocol, OneWriteHttpProtocol, OneWriteTransport

# httptools comes with uvicorn[standard], a dependency: without it the protocols are None and
# these tests fail, as tests/architecture/test_internals.py does.


class Recorder(asyncio.Transport):
    """A transport that keeps what it is asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def in_a_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run the async test in an event loop of its own."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def next_turn() -> None:
    """Let the event loop run what was scheduled with call_soon before now."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@in_a_loop
async def test_alone_the_head_leaves_with_its_body_at_once() -> None:
    recorder = Recorder()
    transport = OneWriteTransport(recorder, in_flight={"this request"})
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert recorder.writes == []
    transport.write(b"{}")
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await next_turn()
    assert len(recorder.writes) == 1


@in_a_loop
async def test_beside_other_requests_the_turns_writes_leave_together_at_the_next_turn() -> None:
    recorder = Recorder()
    transport = OneWriteTransport(recorder, in_flight={"this request", "another"})
    transport.write(b"head;")
    transport.write(bytearray(b"body;"))
    transport.writelines([b"more;", memoryview(b"last")])
    assert recorder.writes == []
    assert transport.get_write_buffer_size() == len(b"head;body;more;last")
    await next_turn()
    assert recorder.writes == [b"head;body;more;last"]
    assert transport.get_write_buffer_size() == 0


@in_a_loop
async def test_a_lone_write_waits_one_turn_at_most() -> None:
    recorder = Recorder()
    transport = OneWriteTransport(recorder, in_flight={"this request"})
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    await next_turn()
    assert recorder.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]


@in_a_loop
async def test_a_buffer_the_writer_reuses_is_sent_as_it_was_written() -> None:
    recorder = Recorder()
    transport = OneWriteTransport(recorder, in_flight={"a", "b"})
    buffer = bytearray(b"first")
    transport.write(buffer)
    buffer[:] = b"later"
    await next_turn()
    assert recorder.writes == [b"first"]


@in_a_loop
async def test_closing_sends_what_is_held_first_and_aborting_drops_it() -> None:
    closing, aborting = Recorder(), Recorder()
    closed = OneWriteTransport(closing, in_flight={"a", "b"})
    closed.write(b"a cut-off bo")
    closed.close()
    assert closing.writes == [b"a cut-off bo"] and closing.closed
    aborted = OneWriteTransport(aborting, in_flight={"a", "b"})
    aborted.write(b"never sent")
    aborted.abort()
    await next_turn()
    assert aborting.writes == [] and aborting.aborted


@in_a_loop
async def test_nothing_is_written_to_a_connection_already_closing() -> None:
    recorder = Recorder()
    transport = OneWriteTransport(recorder, in_flight={"a", "b"})
    transport.write(b"late")
    recorder.closed = True  # the client went away meanwhile
    await next_turn()
    assert recorder.writes == []


# --- uvicorn serving through the protocol ---------------------------------------------------


async def answer(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b'{"path":"' + scope["path"].encode() + b'"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def counting(protocol_class: type) -> tuple[type, list[int]]:
    """`protocol_class` with the socket's own transport counting the writes it is given."""
    writes: list[int] = []

    class Counting(protocol_class):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            real_write = transport.write

            def write(data: Any) -> None:
                writes.append(len(data))
                real_write(data)

            transport.write = write  # type: ignore[method-assign]
            super().connection_made(transport)

    return Counting, writes


async def serve_and_ask(protocol_class: type, requests: int, connections: int) -> list[bytes]:
    """Serve `answer` with `protocol_class`; each connection asks `requests` times in turn."""
    config = uvicorn.Config(answer, log_level="warning", lifespan="off")
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol_class(config=config, server_state=state, app_state={}), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]

    async def client(number: int) -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = []
        for index in range(requests):
            path = f"/c{number}/r{index}"
            writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            answers.append(head + await reader.readexactly(length))
        writer.close()
        return answers

    try:
        results = await asyncio.gather(*(client(n) for n in range(connections)))
    finally:
        server.close()
        await server.wait_closed()
    return [answer for answers in results for answer in answers]


@pytest.mark.parametrize("connections", [1, 8])
@in_a_loop
async def test_every_answer_is_one_write_on_the_socket(connections: int) -> None:
    protocol, writes = counting(OneWriteHttpProtocol)
    answers = await serve_and_ask(protocol, requests=5, connections=connections)
    assert len(answers) == 5 * connections
    for number in range(connections):
        for index in range(5):
            expected = f'{{"path":"/c{number}/r{index}"}}'.encode()
            assert answers[number * 5 + index].startswith(b"HTTP/1.1 200 OK\r\n")
            assert answers[number * 5 + index].endswith(b"\r\n\r\n" + expected)
    assert len(writes) == 5 * connections


@in_a_loop
async def test_without_it_uvicorn_writes_head_and_body_apart() -> None:
    protocol, writes = counting(FaultHttpProtocol)
    answers = await serve_and_ask(protocol, requests=3, connections=1)
    assert len(answers) == 3
    assert len(writes) == 6
