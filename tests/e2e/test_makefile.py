"""`make run` and `make test` started together on a fresh clone: one creates .venv and installs
the project while the other waits, then finds it done (before, both created and installed at
once and one failed). The real Makefile's rules run here against a stand-in Python that records
what it is asked to do (a real install takes minutes; the real thing is checked by hand, see
docs/cli.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

# Stands in for python3 (creating the venv) and for .venv/bin/python (pip, compileall): each
# call is logged; an install that starts while another runs is an error, as a real pip's
# concurrent writes into one environment are.
FAKE_PYTHON = textwrap.dedent(
    """\
    #!{python}
    import os, shutil, sys, time
    log = os.path.join(os.environ["FAKE_LOG_DIR"], "calls.log")
    busy = os.path.join(os.environ["FAKE_LOG_DIR"], "installing")
    args = sys.argv[1:]
    def note(line):
        with open(log, "a") as handle:
            handle.write(line + "\\n")
    if args[:1] == ["-c"]:  # the Makefile's own helpers run on the real interpreter
        os.execv({python!r}, [{python!r}, *args])
    if args[:2] == ["-m", "venv"]:
        note("venv")
        time.sleep(0.3)
        os.makedirs(os.path.join(args[2], "bin"), exist_ok=True)
        target = os.path.join(args[2], "bin", "python")
        shutil.copy(sys.argv[0], target)
        os.chmod(target, 0o755)
        sys.exit(0)
    if args[:3] == ["-m", "pip", "install"]:
        try:
            fd = os.open(busy, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            note("overlap")
            sys.exit(1)
        note("install " + args[-1])
        time.sleep(0.5)
        os.close(fd)
        os.unlink(busy)
        sys.exit(0)
    note(" ".join(args))
    """
)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The Makefile and pyproject.toml of this checkout, and no .venv yet."""
    where = tmp_path / "clone"
    where.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, where / name)
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable))
    fake.chmod(0o755)
    return where


def make(clone: Path, *targets: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(clone), f"PYTHON={clone.parent / 'python3'}"]
        + list(targets),
        env={"PATH": "/usr/bin:/bin", "FAKE_LOG_DIR": str(clone.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def calls(clone: Path) -> list[str]:
    return (clone.parent / "calls.log").read_text().splitlines()


def test_two_makes_at_once_create_and_install_once(clone: Path) -> None:
    first, second = make(clone, "compile"), make(clone, "compile")
    outputs = [process.communicate(timeout=60)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    log = calls(clone)
    assert "overlap" not in log
    assert log.count("venv") == 1
    assert [line for line in log if line.startswith("install")] == [
        "install pip",
        "install .[test,postgres]",
    ]
    assert log.count("-m compileall -q simulator") == 2  # each make's own step after it


def test_a_changed_pyproject_installs_again(clone: Path) -> None:
    assert make(clone, "compile").wait(timeout=60) == 0
    assert make(clone, "compile").wait(timeout=60) == 0
    installs = sum(line.startswith("install") for line in calls(clone))
    assert installs == 2  # the second make found the stamp newer than pyproject.toml
    stamp = clone / ".venv" / ".installed"
    pyproject = clone / "pyproject.toml"
    import os

    later = stamp.stat().st_mtime + 5
    os.utime(pyproject, (later, later))
    assert make(clone, "compile").wait(timeout=60) == 0
    assert sum(line.startswith("install") for line in calls(clone)) == 4
