"""Work off the event loop: while a worker thread writes an SQLite store, requests that may
write wait for it without holding the loop, and reads go on."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from simulator.core import offloop
from simulator.core.offloop import WriterGate
from tests.conftest import DEFAULT_CREDENTIALS

ECDP = DEFAULT_CREDENTIALS["ecdp"]


def test_a_waiter_waits_only_for_the_writers_it_found() -> None:
    async def scenario() -> list[str]:
        gate = WriterGate()
        events: list[str] = []
        first = gate.enter()

        async def waiter() -> None:
            await gate.wait()
            events.append("through")

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        later = gate.enter()  # arrives after the waiter: not waited for
        assert events == []
        threading.Thread(target=gate.leave, args=(first,)).start()
        await asyncio.wait_for(task, 5)
        gate.leave(later)
        await gate.wait()  # nobody writing: at once
        events.append("free")
        return events

    assert asyncio.run(scenario()) == ["through", "free"]


def test_writes_wait_for_a_thread_writer_and_reads_do_not(client: TestClient) -> None:
    engine = client.app.state.engine
    if offloop.gate_of(engine) is None:
        pytest.skip("PostgreSQL locks rows, not the store: nothing waits")
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": "gate@example.com"}]}
    with ThreadPoolExecutor(1) as pool:
        with offloop.writing(engine):  # as a worker thread in its write phase
            read = client.get("/customers/email/adam@example.com", headers=ECDP)
            assert read.status_code == 200
            write = pool.submit(client.post, "/customers", headers=ECDP, json=body)
            time.sleep(0.5)
            assert not write.done()  # waiting, off the loop: the read above went through
            assert client.get("/customers/id/1", headers=ECDP).status_code == 200
        assert write.result(timeout=10).status_code in (200, 201)
    found = client.get("/customers/email/gate@example.com", headers=ECDP)
    assert found.status_code == 200
