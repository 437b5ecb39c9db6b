"""Every shell example of README.md and docs/*.md runs against a fresh simulator and prints what
the docs say it prints (conventions: tests/docs/shell_blocks.py, docs/testing.md), so the docs
cannot drift from the code.

One test per Markdown file: its blocks run in order (a later example may read what an earlier
one wrote) on one server of its own, started with `simulator.testing.SimulatorServer` (an SQLite
store in a temporary folder, the default fixtures, no admin token, the stream worker off so the
CustomerGauge examples' `process` call is the one that processes). Each block runs in a
temporary folder holding a link to the repository's `fixtures/`, with `SIM_DATABASE_URL` naming
the server's store (so `fixtures export --tenant default` reads it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.testing import SimulatorServer
from tests.docs.shell_blocks import (
    ShellBlock,
    first_mismatch,
    output_matches,
    runnable_problem,
    script,
    shell_blocks,
)

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK_TIMEOUT = 120  # seconds; a hang guard, not a speed check


def documents_with_runnable_blocks() -> list[Path]:
    return [
        path for path in DOCUMENTS if any(not block.illustrative for block in shell_blocks(path))
    ]


@pytest.fixture
def docs_server(tmp_path: Path) -> Iterator[SimulatorServer]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("SIM_"):
                patch.delenv(name)  # the server the docs describe: no token, default settings
        server = SimulatorServer.start(tmp_path / "server", env={"SIM_RUN_WORKER": "false"})
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("curl") is None, reason="needs bash and curl"
)
@pytest.mark.parametrize(
    "document", documents_with_runnable_blocks(), ids=lambda path: str(path.relative_to(ROOT))
)
def test_the_shell_examples_print_what_the_docs_say(
    document: Path, docs_server: SimulatorServer, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "fixtures").symlink_to(ROOT / "fixtures")
    port = int(docs_server.url.rsplit(":", 1)[1])
    failures: list[str] = []
    for block in shell_blocks(document):
        if block.illustrative:
            continue
        failure = run_block(block, port, workdir, docs_server)
        if failure:
            failures.append(f"{block.where(ROOT)}: {failure}")
    assert failures == [], "\n\n".join(failures)


def run_block(block: ShellBlock, port: int, workdir: Path, server: SimulatorServer) -> str | None:
    """None when the block runs and prints what it shows, else what went wrong."""
    problem = runnable_problem(block)
    if problem:
        return problem
    mark = f"--- step {uuid.uuid4().hex} ---"
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SIM_")},
        "SIMULATOR_PYTHON": sys.executable,
        "SIM_DATABASE_URL": f"sqlite:///{server.workdir / 'simulator.db'}",
    }
    try:
        result = subprocess.run(
            ["bash", "-c", script(block, port, mark)],
            cwd=workdir,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"did not finish within {BLOCK_TIMEOUT} s"
    outputs = result.stdout.split(f"\n{mark}\n")
    if result.returncode != 0:
        return f"exit status {result.returncode}; output:\n{result.stdout[-3000:]}"
    steps = block.steps()
    for step, output in zip(steps, outputs, strict=True):
        if step.expected is None:
            if output.strip():
                return f"prints output no `# =>` line shows:\n{output.strip()[:3000]}"
        elif not output_matches(step.expected, output):
            return (
                f"after {step.commands[-1].strip()!r}\nexpected: {step.expected}\n"
                f"printed:  {output.strip()[:3000]}\n"
                f"first piece not found (whitespace removed): {first_mismatch(step.expected, output)}"
            )
    return None
