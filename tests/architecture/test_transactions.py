"""One owner of a transaction: services never commit (docs/architecture.md, "Transactions").

A service runs in the transaction its caller opened; the route (or the background work) ends
it through `core/store.unit_of_work`. A `commit(` in a service module would end a request's
transaction halfway, with part of its work stored and the rest not.
"""

from __future__ import annotations

import re
from pathlib import Path

SIMULATOR = Path(__file__).resolve().parents[2] / "simulator"


COMMIT = re.compile(r"\bcommit\(")


def service_modules() -> list[Path]:
    """`simulator/<api>/service*.py` and everything under `simulator/<api>/service/`."""
    found = set(SIMULATOR.glob("*/service*.py")) | set(SIMULATOR.glob("*/service/**/*.py"))
    return sorted(found)


def commits_in(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of each `commit(` call outside a comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        (number, line.strip())
        for number, line in enumerate(lines, 1)
        if COMMIT.search(line.split("#", 1)[0])
    ]


def test_the_service_modules_are_found() -> None:
    packages = {path.relative_to(SIMULATOR).parts[0] for path in service_modules()}
    assert {"customergauge", "clienttoolbox", "talonone", "ecdp"} <= packages


def test_no_service_commits() -> None:
    offending = [
        f"{path.relative_to(SIMULATOR.parent)}:{number}: {line}"
        for path in service_modules()
        for number, line in commits_in(path)
    ]
    assert not offending, "services never commit; the route's unit of work does:\n" + "\n".join(
        offending
    )


def test_the_check_sees_a_commit(tmp_path: Path) -> None:
    """The grep is not vacuous: a commit call in code is found, one in a comment is not."""
    module = tmp_path / "service.py"
    module.write_text("def f(db):\n    db.add(1)  # then commit()\n    db.commit()\n")
    assert commits_in(module) == [(3, "db.commit()")]
