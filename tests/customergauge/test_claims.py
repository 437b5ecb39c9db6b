"""Claims: each upload is taken by exactly one worker, in arrival order per tenant, even when
several workers (threads with their own connections here; processes in production) race."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from simulator.core.clock import real_now
from simulator.core.db import make_engine, new_session
from simulator.customergauge import service
from simulator.customergauge.models import CgUpload


def add_uploads(engine: Engine, per_tenant: dict[str, int]) -> None:
    now = real_now()
    with new_session(engine) as session:
        for tenant, count in per_tenant.items():
            for _ in range(count):
                number = service.next_value(session, tenant, service.UPLOAD_SEQUENCE)
                session.add(
                    CgUpload(
                        tenant_id=tenant,
                        number=number,
                        records_json="[]",
                        next_attempt_at=now,
                        received_at=now,
                    )
                )
        session.commit()


def claim(session: Session, worker: str) -> int | None:
    return service.claim_next(session, worker, real_now())


@pytest.fixture
def engine(make_client) -> Engine:
    """The store of a server whose background worker is off (these tests are the workers)."""
    return make_client(run_worker=False).app.state.engine


def test_a_tenant_later_upload_waits_for_the_earlier(engine: Engine) -> None:
    add_uploads(engine, {"t-a": 2, "t-b": 1})
    with new_session(engine) as session:
        first = claim(session, "w1")
        second = claim(session, "w2")
        assert claim(session, "w3") is None  # t-a's second waits behind its first
        rows = {r.id: r for r in session.query(CgUpload).all()}
    assert {rows[first].tenant_id, rows[second].tenant_id} == {"t-a", "t-b"}
    assert rows[first].number == 1 and rows[first].attempts == 1


def test_a_retry_waits_for_its_back_off(engine: Engine) -> None:
    add_uploads(engine, {"t-r": 1})
    with new_session(engine) as session:
        upload_id = claim(session, "w1")
        failed_at = real_now()
        service.record_failure(session, upload_id, "boom", failed_at, failed_at)
        assert service.claim_next(session, "w1", failed_at) is None  # back-off: 1 s
        assert service.claim_next(session, "w1", failed_at + timedelta(seconds=1)) == upload_id


def test_racing_workers_claim_each_upload_exactly_once(engine: Engine, database_url: str) -> None:
    tenants = {f"t-{n}": 3 for n in range(12)}
    add_uploads(engine, tenants)
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        own = make_engine(database_url)
        try:
            idle = 0
            while idle < 50:
                with new_session(own) as session:
                    try:
                        upload_id = claim(session, name)
                    except Exception:  # SQLite busy under the race: try again
                        session.rollback()
                        upload_id = None
                    if upload_id is None:
                        idle += 1
                        continue
                    idle = 0
                    upload = session.get(CgUpload, upload_id)
                    service.complete_upload(session, upload, service.Evaluation(), real_now())
                    session.commit()
                    with lock:
                        claimed.append((upload.tenant_id, upload.number))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sorted(claimed) == sorted((t, n) for t in tenants for n in (1, 2, 3))
