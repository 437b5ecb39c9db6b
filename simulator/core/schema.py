"""Schema versions: Alembic revisions recorded in the database.

- A new, empty store gets the current schema at once (create_all) and is stamped with the head
  revision (much faster than replaying every migration; a test checks both give one schema).
- A store at an older revision is upgraded (`simulator db upgrade`, or at start unless
  SIM_AUTO_MIGRATE=false).
- A store at a revision this code does not know (written by newer code) is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
REVISION_LINE = re.compile(
    r"^(down_revision|revision)(?::[^=]+)?=\s*(?:['\"]([^'\"]+)['\"]|None)", re.M
)


@lru_cache
def code_revisions() -> tuple[frozenset[str], str | None]:
    """(every revision of this code, the newest) read from the version files.

    Read without Alembic, so a start on a current store does not pay Alembic's import.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((m.group(1), m.group(2)) for m in REVISION_LINE.finditer(path.read_text()))
        if found.get("revision"):
            revisions.add(found["revision"])
            if found.get("down_revision"):
                parents.add(found["down_revision"])
    heads = revisions - parents
    return frozenset(revisions), (next(iter(heads)) if len(heads) == 1 else None)


def recorded_revision(engine: Engine) -> str | None:
    """The revision written in the store's alembic_version table (None if unversioned)."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer version of the simulator."""


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # The engine's URL may hold '%' (e.g. options=-csearch_path%3D...): escape for configparser.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def known_revisions(engine: Engine) -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine))
    return {revision.revision for revision in script.walk_revisions()}


def is_empty(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    return not names


def upgrade(engine: Engine) -> None:
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# Alembic's own version table (alembic.ddl.impl.DefaultImpl.version_table_impl), so that a
# store stamped here is one Alembic reads, upgrades and stamps like any other.
VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def stamp_head(engine: Engine) -> None:
    """Record the head revision, as `alembic stamp head` does.

    Written directly when the code has one head, so that a start on a new store does not pay
    Alembic's import (a fifth of a second); with several heads Alembic says what is wrong.
    """
    _revisions, head = code_revisions()
    if head is None:
        stamp_head_with_alembic(engine)
        return
    with engine.begin() as connection:
        VERSION_TABLE.create(connection, checkfirst=True)
        connection.execute(VERSION_TABLE.delete())
        connection.execute(VERSION_TABLE.insert().values(version_num=head))


def stamp_head_with_alembic(engine: Engine) -> None:
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.stamp(config, "head")


def ensure_schema(engine: Engine, auto_migrate: bool = True) -> str:
    """Bring the store to the code's schema; returns what was done."""
    import simulator.models_index  # noqa: F401

    if is_empty(engine):
        SQLModel.metadata.create_all(engine, checkfirst=False)  # nothing there to look for
        stamp_head(engine)
        return "created"
    current = recorded_revision(engine)
    revisions, head = code_revisions()
    if current == head:
        return "current"
    if current is not None and current not in revisions:
        raise SchemaTooNew(
            f"the database is at schema revision {current}, which this version of the simulator "
            f"does not know (its newest is {head}): it was written by a newer simulator. "
            "Run that version, or point --db at another database."
        )
    if not auto_migrate:
        raise RuntimeError(
            f"the database is at schema revision {current or 'none'}, older than {head}: "
            "run `simulator db upgrade` first"
        )
    upgrade(engine)
    return "upgraded"
