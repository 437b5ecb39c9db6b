"""The command line: `--version`, `serve --help` naming each option's default and SIM_* twin,
and a start that cannot happen (port in use, a bad --db) said in one line, exit 2, no banner
and no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import __version__
from simulator.cli import SERVE_OPTIONS, CannotStart, main, open_store, port_problem
from simulator.config import Settings, normalized_database_url
from tests.conftest import POSTGRES_URL, ROOT, free_port


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "--version") == (0, f"simulator {__version__}\n", "")


def test_serve_help_names_each_default_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "serve", "--help")
    assert status == 0
    text = " ".join(out.split())  # argparse wraps lines
    for option, (field, _) in SERVE_OPTIONS.items():
        default = Settings.model_fields[field].default
        shown = "unset" if default is None else str(default)
        assert f"{option} " in text
        assert f"(default: {shown}; env SIM_{field.upper()})" in text, option
    assert "SIM_ADMIN_TOKEN" in text and "SIM_JOURNAL_MAX_ENTRIES" in text  # env-only ones


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`simulator serve` in a process of its own (it exports SIM_* and configures logging)."""
    return subprocess.run(
        [sys.executable, "-m", "simulator", "serve", *args],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SIM_")}, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""  # before any banner
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith("simulator: cannot start: ")
    for word in words:
        assert word in lines[0], lines[0]


def test_a_port_in_use_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = serve("--port", str(port), "--db", f"sqlite:///{tmp_path / 's.db'}")
        assert_one_line_refusal(result, f"port {port}", "--port", "SIM_PORT")
        by_variable = serve(
            env={"SIM_PORT": str(port), "SIM_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
        )
        assert_one_line_refusal(by_variable, f"port {port}")
    assert not (tmp_path / "s.db").exists()  # refused before the store was touched


def test_an_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    result = serve("--port", str(free_port()), "--db", "postgres://u:secret@127.0.0.1:1/db")
    assert_one_line_refusal(result, "127.0.0.1:1", "cannot be used", "refused")
    assert "secret" not in result.stderr


def test_a_store_path_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = serve("--port", str(free_port()), "--db", f"sqlite:///{blocker}/s.db")
    assert_one_line_refusal(result, f"{blocker} is a file, not a folder")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@host/db", "mysql is not supported"),
        ("postgresql+nosuchdriver://u@host/db", "Can't load plugin"),
    ],
)
def test_a_bad_url_is_refused_in_one_line(url: str, says: str) -> None:
    with pytest.raises(CannotStart) as refusal:
        open_store(url)
    assert says in str(refusal.value) and "\n" not in str(refusal.value)


def test_a_missing_postgresql_driver_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(CannotStart) as refusal:
        open_store("postgresql://u@127.0.0.1:1/db")
    assert "driver is not installed" in str(refusal.value)
    assert "simulator[postgres]" in str(refusal.value)


def test_postgres_urls_mean_the_psycopg_driver() -> None:
    for url in ("postgres://u:p@h:5432/d", "postgresql://u:p@h:5432/d"):
        assert normalized_database_url(url) == "postgresql+psycopg://u:p@h:5432/d"
        assert Settings(database_url=url).database_url == "postgresql+psycopg://u:p@h:5432/d"
    assert normalized_database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalized_database_url("postgresql+psycopg://h/d") == "postgresql+psycopg://h/d"


@pytest.mark.skipif(not POSTGRES_URL, reason="needs SIM_TEST_DATABASE_URL")
def test_a_postgres_url_serves(tmp_path: Path) -> None:
    from tests.conftest import live_database_url, start_server, stop_server

    url = live_database_url(tmp_path, "sim_cli_postgres")
    server = start_server(url.replace("postgresql+psycopg://", "postgres://", 1))
    stop_server(server)
    assert "postgresql+psycopg://" in server.process.stdout.read().decode()


def test_port_problem_is_none_for_a_free_port() -> None:
    assert port_problem("127.0.0.1", free_port()) is None


def test_export_of_a_store_that_does_not_exist_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "nowhere.db"
    status, out, err = run_main(capsys, "fixtures", "export", "--db", f"sqlite:///{store}")
    assert (status, out) == (2, "")
    assert err == f"simulator: no store at {store}: give the one the simulator serves (--db)\n"
    assert not store.exists()


def test_the_docs_write_one_form_of_the_command() -> None:
    """After the quick start the command is `.venv/bin/simulator` (nothing puts `simulator` on
    the PATH): README.md and docs/ write that form everywhere."""
    import re

    bare = re.compile(r"(?<![/\w.-])simulator (serve|worker|db|fixtures)\b")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if bare.search(line)
    ]
    assert found == []
