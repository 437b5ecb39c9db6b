"""Schema versions: created and stamped, upgraded keeping data, newer refused."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel

from simulator.app import create_app
from simulator.core import schema
from simulator.core.db import make_engine
from tests.conftest import ROOT, free_port, live_database_url


@pytest.fixture
def store(tmp_path: Path, request: pytest.FixtureRequest):
    """An empty store of its own (a fresh PostgreSQL schema or SQLite file)."""
    url = live_database_url(tmp_path, f"sim_schema_{request.node.name[:40].lower()}")
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def revisions(engine) -> list[str]:
    script = ScriptDirectory.from_config(schema.alembic_config(engine))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def migrate(engine, target: str) -> None:
    with engine.begin() as connection:
        config = schema.alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def test_new_store_is_created_and_stamped_with_the_newest_revision(store) -> None:
    _url, engine = store
    assert schema.ensure_schema(engine) == "created"
    assert schema.current_revision(engine) == schema.head_revision(engine) is not None
    assert schema.ensure_schema(engine) == "current"


def version_table(engine) -> tuple:
    """alembic_version as the database describes it: columns, primary key, rows."""
    from sqlalchemy import inspect

    inspector = inspect(engine)
    columns = [
        (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns("alembic_version")
    ]
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return columns, inspector.get_pk_constraint("alembic_version"), rows


def test_a_new_store_is_stamped_exactly_as_alembic_stamps_it(store) -> None:
    _url, engine = store
    assert schema.ensure_schema(engine) == "created"  # stamped without Alembic
    ours = version_table(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    schema.stamp_head_with_alembic(engine)
    assert version_table(engine) == ours
    assert ours[2] == [(schema.head_revision(engine),)]


def test_migrations_build_exactly_the_schema_of_the_models(store) -> None:
    _url, engine = store
    migrate(engine, "head")
    import simulator.models_index  # noqa: F401

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_upgrade_keeps_every_tenant_and_its_credentials(store, make_settings) -> None:
    url, engine = store
    steps = revisions(engine)
    assert len(steps) >= 2, "an upgrade needs an older revision to start from"
    migrate(engine, steps[0])
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tenant (id, name, customergauge_api_key, clienttoolbox_user_id,"
                " clienttoolbox_user_api_key, clienttoolbox_account_id, talonone_api_key,"
                " ecdp_api_key, fixtures_document, fixtures_source, clock_frozen,"
                " clock_frozen_at, clock_offset_seconds, created_at) VALUES ('old', 'old team',"
                " 'cg-old', 'u-old', 'ct-old', 'a-old', 'talon-old', 'ecdp-old', '{}', 'none',"
                " :frozen, :at, 0, :at)"
            ),
            {"frozen": True, "at": datetime(2030, 1, 1)},
        )
    assert schema.ensure_schema(engine) == "upgraded"
    assert schema.current_revision(engine) == steps[-1]
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_settings(database_url=url), engine=engine)) as client:
        tenant = client.get("/__admin/tenants/old").json()
        assert tenant["name"] == "old team"
        assert tenant["credentials"]["talonone"]["api_key"] == "talon-old"
        assert tenant["clock"] == {"now": "2030-01-01T00:00:00Z", "frozen": True}
        response = client.get(
            "/customers/email/nobody@example.com", headers={"x-api-key": "ecdp-old"}
        )
        assert response.status_code == 404  # authenticated as the old tenant; no such customer


def test_upgrade_moves_open_sessions_tentative_figures_onto_their_rows(store) -> None:
    """Revision 0004: the tentative rows of open sessions become their sessions' mark (the card,
    "" for the profile's ledgers); other sessions are unmarked, and the old table is gone."""
    _url, engine = store
    migrate(engine, "0003")
    session = (
        "INSERT INTO talonone_session (tenant_id, id, integration_id, profile_id, state, data,"
        " effects, first_session, update_count, counted_sales, created, updated) VALUES"
        " ('t', :id, :sid, 'p', :state, '{}', '[]', :yes, 1, 0, :at, :at)"
    )
    tentative = (
        "INSERT INTO talonone_loyalty_tentative (tenant_id, session_id, profile_id,"
        " card_identifier, effects, updated) VALUES ('t', :sid, 'p', :card, '[]', :at)"
    )
    at = datetime(2030, 1, 1)
    with engine.begin() as connection:
        for number, (sid, state) in enumerate(
            [("by-profile", "open"), ("by-card", "open"), ("plain", "open"), ("done", "closed")]
        ):
            connection.execute(
                text(session), {"id": number, "sid": sid, "state": state, "yes": True, "at": at}
            )
        connection.execute(text(tentative), {"sid": "by-profile", "card": "", "at": at})
        connection.execute(text(tentative), {"sid": "by-card", "card": "CARD-1", "at": at})
    migrate(engine, "head")
    with engine.connect() as connection:
        marks = dict(
            connection.execute(
                text("SELECT integration_id, tentative_card FROM talonone_session")
            ).all()
        )
        from sqlalchemy import inspect

        tables = inspect(connection).get_table_names()
    assert marks == {"by-profile": "", "by-card": "CARD-1", "plain": None, "done": None}
    assert "talonone_loyalty_tentative" not in tables


def test_a_store_from_a_newer_version_is_refused(store) -> None:
    url, engine = store
    schema.ensure_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    with pytest.raises(schema.SchemaTooNew) as error:
        schema.ensure_schema(engine)
    assert "newer simulator" in str(error.value)
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--db", url, "--port", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "newer simulator" in result.stderr


def test_an_older_store_is_refused_without_auto_migrate(store) -> None:
    _url, engine = store
    steps = revisions(engine)
    migrate(engine, steps[0])
    with pytest.raises(RuntimeError, match="simulator db upgrade"):
        schema.ensure_schema(engine, auto_migrate=False)
