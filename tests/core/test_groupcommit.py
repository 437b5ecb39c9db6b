"""core.groupcommit: the writes of the requests one event-loop turn serves share one commit on
SQLite, each request inside its own savepoint, and none answers before that commit is done."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from simulator.app import create_app
from simulator.config import Settings, get_settings
from simulator.core import fastsql, groupcommit
from simulator.core.db import make_engine, new_session
from simulator.core.ids import next_value
from simulator.core.models import IdSequence
from simulator.core.schema import ensure_schema
from tests.conftest import DEFAULT_CREDENTIALS


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/group.db")
    ensure_schema(engine, True)
    with engine.begin() as connection:  # a constraint SQLite checks only at COMMIT
        connection.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        connection.execute(
            text(
                "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    groupcommit.enable(engine)
    yield engine
    engine.dispose()


def counter(engine: Engine, name: str) -> int | None:
    """The counter as any other connection sees it (committed values only)."""
    with new_session(engine) as session:
        return session.execute(
            select(IdSequence.value).where(IdSequence.tenant_id == "t", IdSequence.name == name)
        ).scalar_one_or_none()


def take(engine: Engine, name: str, *, fail: bool = False, dry: bool = False):
    """One grouped request: take a number, then commit, fail or roll back (a dry run)."""
    lease = fastsql.write_lease(engine, grouped=True)
    with lease:
        next_value(lease, "t", name)
        if fail:
            raise_in_lease()
        if dry:
            lease.rollback()
        else:
            fastsql.commit(lease)
    return lease


def raise_in_lease() -> None:
    raise ValueError("the request failed after writing")


def test_requests_of_one_turn_share_one_commit_and_a_failed_one_leaves_no_trace(engine) -> None:
    async def turn() -> tuple[bool, int, int | None]:
        group = groupcommit.group_for(engine)
        before = group.commits
        first = take(engine, "a")
        with pytest.raises(ValueError):
            take(engine, "a", fail=True)
        take(engine, "a", dry=True)
        last = take(engine, "a")
        still_open = group.open and group.commits == before
        await first.committed()
        await last.committed()
        return still_open, group.commits - before, counter(engine, "a")

    still_open, commits, value = asyncio.run(turn())
    assert still_open  # four requests served, nothing committed yet
    assert commits == 1
    assert value == 2  # the first and the last request; the failed and the dry one undid theirs


def test_a_rollback_after_a_commit_undoes_only_what_came_after(engine) -> None:
    async def turn() -> None:
        lease = fastsql.write_lease(engine, grouped=True)
        with lease:
            connection = lease.raw.dbapi_connection
            connection.execute("INSERT INTO parent VALUES (1)")
            fastsql.commit(lease)
            connection.execute("INSERT INTO parent VALUES (2)")
            lease.rollback()
            connection.execute("INSERT INTO parent VALUES (3)")
            fastsql.commit(lease)
            connection.execute("INSERT INTO parent VALUES (4)")  # never committed
        await lease.committed()

    asyncio.run(turn())
    with new_session(engine) as session:
        stored = session.execute(text("SELECT id FROM parent ORDER BY id")).scalars().all()
    assert stored == [1, 3]


def test_nothing_is_visible_to_others_before_the_group_commits(engine) -> None:
    async def turn() -> list[int | None]:
        seen = []
        lease = take(engine, "b")
        group = groupcommit._groups[engine]
        seen.append(None if group.open else -1)  # the group is still open ...
        await lease.committed()
        seen.append(counter(engine, "b"))  # ... and stored once the request may answer
        return seen

    assert asyncio.run(turn()) == [None, 1]


def test_the_groups_connection_caches_16_mib_of_pages_and_the_others_sqlites_2_mb(
    engine, monkeypatch
) -> None:
    """Pages the group writes stay in its cache until a checkpoint (the memory map serves only
    pages back in the file); connections that only read keep SQLite's default."""

    def cache_sizes() -> tuple[int, int]:
        async def turn() -> int:
            lease = take(engine, "c")
            size = groupcommit._groups[engine].dbapi.execute("PRAGMA cache_size").fetchone()[0]
            await lease.committed()
            return size

        group = asyncio.run(turn())
        with engine.connect() as connection:
            reader = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        return group, reader

    assert cache_sizes() == (-16 * 1024, -2000)
    groupcommit._groups.pop(engine).close()
    monkeypatch.setenv("SIM_SQLITE_CACHE_BYTES", "0")  # SQLite's own default for it too
    get_settings.cache_clear()
    try:
        assert cache_sizes() == (-2000, -2000)
    finally:
        monkeypatch.delenv("SIM_SQLITE_CACHE_BYTES")
        get_settings.cache_clear()


def test_a_writer_on_another_connection_commits_the_group_first(engine) -> None:
    """An ORM Session of the same thread must not wait for the group's write lock (it would
    wait for a commit that only this thread can run): the group commits at its checkout,
    numbers handed out from memory included."""

    async def turn() -> int | None:
        first = take(engine, "c")
        second = take(engine, "c")  # from memory: the group holds the counter's row
        with new_session(engine) as session:  # would block for its 30 s busy timeout otherwise
            session.execute(text("UPDATE id_sequence SET value = value + 10 WHERE name = 'c'"))
            session.commit()
        await first.committed()
        await second.committed()
        return counter(engine, "c")

    assert asyncio.run(turn()) == 12


def test_numbers_taken_in_a_group_are_dense_and_stored(engine) -> None:
    async def turn() -> list[int]:
        taken = []
        for fail in (False, True, False, False, True, False):
            lease = fastsql.write_lease(engine, grouped=True)
            try:
                with lease:
                    taken.append(next_value(lease, "t", "dense"))
                    if fail:
                        raise_in_lease()
                    fastsql.commit(lease)
            except ValueError:
                taken.pop()  # a failed request's number is given back
                await asyncio.sleep(0)  # the loop turns: the group so far commits
        await lease.committed()
        return taken

    assert asyncio.run(turn()) == [1, 2, 3, 4]
    assert counter(engine, "dense") == 4
    with fastsql.write_lease(engine) as lease:  # the next group or writer goes on from there
        assert next_value(lease, "t", "dense") == 5
        fastsql.commit(lease)


def test_orm_work_in_a_grouped_request_commits_with_it(engine) -> None:
    async def turn() -> tuple[int | None, int | None]:
        lease = fastsql.write_lease(engine, grouped=True)
        with lease:
            lease.add(IdSequence(tenant_id="t", name="orm", value=5))
            fastsql.commit(lease)
        rejected = fastsql.write_lease(engine, grouped=True)
        with rejected:
            rejected.add(IdSequence(tenant_id="t", name="orm-rejected", value=5))
            rejected.flush()  # written inside its savepoint, never committed
        await lease.committed()
        await rejected.committed()
        return counter(engine, "orm"), counter(engine, "orm-rejected")

    assert asyncio.run(turn()) == (5, None)


def test_a_group_that_cannot_commit_fails_every_request_in_it(engine) -> None:
    """A deferred foreign key is checked at COMMIT: the group's commit fails, so no request of
    it may answer success, and nothing of it is stored."""

    async def turn() -> list[str]:
        first = take(engine, "d")
        broken = fastsql.write_lease(engine, grouped=True)
        with broken:
            broken.raw.dbapi_connection.execute("INSERT INTO child VALUES (999)")
            fastsql.commit(broken)
        outcomes = []
        for lease in (first, broken):
            try:
                await lease.committed()
                outcomes.append("stored")
            except Exception as exc:  # the commit's own error
                outcomes.append(type(exc).__name__)
        return outcomes

    assert asyncio.run(turn()) == ["IntegrityError", "IntegrityError"]
    assert counter(engine, "d") is None
    with fastsql.write_lease(engine) as lease:  # the store is usable again
        next_value(lease, "t", "d")
        fastsql.commit(lease)
    assert counter(engine, "d") == 1


def test_a_failing_commit_asked_for_in_the_middle_of_a_request_fails_that_request(engine) -> None:
    """Another connection checked out inside a grouped request commits the group first; when
    that commit fails, the request fails too, and nothing of the group is stored."""

    async def turn() -> tuple[str, str]:
        broken = fastsql.write_lease(engine, grouped=True)
        with broken:
            broken.raw.dbapi_connection.execute("INSERT INTO child VALUES (999)")
            fastsql.commit(broken)
        active = fastsql.write_lease(engine, grouped=True)
        try:
            with active:
                next_value(active, "t", "mid")
                with new_session(engine) as other:  # its checkout commits the group: that fails
                    other.execute(text("SELECT 1"))
                fastsql.commit(active)
            request = "answered"
        except Exception as exc:
            request = type(exc).__name__
        try:
            await broken.committed()
            earlier = "stored"
        except Exception as exc:
            earlier = type(exc).__name__
        return request, earlier

    assert asyncio.run(turn()) == ("IntegrityError", "IntegrityError")
    assert counter(engine, "mid") is None


def test_outside_a_running_loop_a_write_lease_commits_on_its_own(engine) -> None:
    lease = take(engine, "e")
    assert counter(engine, "e") == 1
    asyncio.run(lease.committed())  # nothing to wait for


def test_concurrent_session_updates_are_all_stored_and_readable(tmp_path) -> None:
    """Through the app: a burst of UpdateCustomerSessionV2 served in few loop turns, each
    answered only once stored (a GetCustomerSession finds every one), in fewer commits."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/burst.db", fixtures="default")
    app = create_app(settings)
    headers = {**DEFAULT_CREDENTIALS["talonone"], "Content-Type": "application/json"}

    async def burst() -> tuple[list[int], list[int], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            body = {"customerSession": {"profileId": "burst", "cartItems": []}}

            async def update(i: int) -> int:
                response = await http.put(
                    f"/v2/customer_sessions/burst-{i}", json=body, headers=headers
                )
                return response.status_code

            statuses = await asyncio.gather(*(update(i) for i in range(20)))
            group = groupcommit.group_for(app.state.engine)
            reads = [
                (await http.get(f"/v2/customer_sessions/burst-{i}", headers=headers)).status_code
                for i in range(20)
            ]
            return list(statuses), reads, group.commits

    statuses, reads, commits = asyncio.run(burst())
    app.state.engine.dispose()
    assert statuses == [200] * 20 and reads == [200] * 20
    assert commits < 20


def test_a_session_update_sees_tenant_changes_made_in_between(client, new_tenant) -> None:
    """The tenant row a grouped request skips reading (the store said nothing changed) is
    read again once anything else committed: a clock set and a deletion count at once."""
    tenant = new_tenant()
    headers = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    body = {"customerSession": {"profileId": "p"}}
    for i in range(2):
        assert (
            client.put(f"/v2/customer_sessions/warm-{i}", json=body, headers=headers).status_code
            == 200
        )
    clock = client.put(
        f"/__admin/tenants/{tenant['id']}/clock",
        json={"now": "2031-02-03T04:05:06Z", "frozen": True},
    )
    assert clock.status_code == 200
    updated = client.put(
        "/v2/customer_sessions/after-clock",
        json={**body, "responseContent": ["customerSession"]},
        headers=headers,
    )
    assert updated.json()["customerSession"]["created"] == "2031-02-03T04:05:06Z"
    assert client.delete(f"/__admin/tenants/{tenant['id']}").status_code == 204
    gone = client.put("/v2/customer_sessions/after-delete", json=body, headers=headers)
    assert gone.status_code == 401
