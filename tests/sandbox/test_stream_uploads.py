"""200 concurrent stream uploads across two processes, both running their stream workers: each
upload is processed exactly once and mails each of its records once."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import LiveServer

UPLOADS = 200
RECORDS = 2
# Connections open at once to each process.
CONNECTIONS_PER_SERVER = 50


def document(n: int) -> bytes:
    records = "".join(
        f"<record><Email>u{n}-{r}@example.com</Email><first_name>U{n}</first_name></record>"
        for r in range(RECORDS)
    )
    return f"<?xml version='1.0' encoding='utf-8'?><records>{records}</records>".encode()


async def upload_all(servers: tuple[LiveServer, LiveServer], key: str) -> list[httpx.Response]:
    headers = {"Authorization": f"api_key {key}", "Content-Type": "application/xml"}
    limits = httpx.Limits(max_connections=CONNECTIONS_PER_SERVER)
    clients = [
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60, limits=limits)
        for server in servers
    ]
    try:
        calls = [
            clients[n % 2].post("/v4.1/stream/transactional.json", content=document(n))
            for n in range(UPLOADS)
        ]
        return await asyncio.wait_for(asyncio.gather(*calls), timeout=120)
    finally:
        for client in clients:
            await client.aclose()


def test_each_upload_is_processed_exactly_once(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    tenant = first.new_tenant({"customergauge": {}})
    key = tenant["credentials"]["customergauge"]["api_key"]
    admin = f"/__admin/tenants/{tenant['id']}/customergauge"
    responses = asyncio.run(upload_all(two_servers, key))
    assert [r.status_code for r in responses] == [200] * UPLOADS
    assert all(r.json() == {"Data": True} for r in responses)
    with httpx.Client(timeout=30) as http:

        def uploads() -> list[dict]:
            return http.get(f"{second.url}{admin}/uploads").json()["uploads"]

        deadline = time.monotonic() + 90
        while any(u["status"] != "Processed" for u in uploads()):
            assert time.monotonic() < deadline, [u["status"] for u in uploads()]
            time.sleep(0.1)
        done = uploads()
        assert len(done) == UPLOADS
        assert sorted(u["id"] for u in done) == list(range(1, UPLOADS + 1))
        assert all(u["attempts"] == 1 for u in done)
        mails = http.get(f"{first.url}{admin}/mail-queue").json()["mails"]
        keys = [(m["upload"], m["record"]) for m in mails]
        assert len(keys) == len(set(keys)) == UPLOADS * RECORDS
        emails = sorted(m["email"] for m in mails)
        assert emails == sorted(f"u{n}-{r}@example.com" for n in range(UPLOADS) for r in range(2))
