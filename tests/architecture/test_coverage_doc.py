"""docs/coverage.md's table is the one the APIs' declarations give, so it cannot drift."""

from __future__ import annotations

from simulator.cli import main
from simulator.core.operations import coverage_markdown
from simulator.core.registry import api_specs
from tests.conftest import ROOT

START, END = "<!-- coverage:start -->\n", "<!-- coverage:end -->"


def documented_table() -> str:
    text = (ROOT / "docs" / "coverage.md").read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)]


def test_the_documented_table_is_the_declared_one() -> None:
    """Regenerate it with `.venv/bin/simulator coverage` when an operation is added."""
    assert documented_table() == coverage_markdown(api_specs())


def test_every_operation_is_a_row(capsys) -> None:
    try:
        main(["coverage"])
    except SystemExit as exit:
        assert exit.code == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == sum(len(spec.operations) for spec in api_specs())
    assert "| ECDP | `PostCustomers` | POST | `/customers` |" in printed
    assert "`/`, `/api.php`, `/admin.php` with `type=batch_transactions`" in printed
