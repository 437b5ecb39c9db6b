"""The shell examples of README.md and docs/*.md, read as the docs test runs them.

The conventions (docs/testing.md, "The documentation's examples"):

- a fenced block whose language is `sh`, `bash`, `shell` or `console` is run by bash (`set -e`,
  standard error merged into the output), in order with the file's other blocks, against one
  fresh simulator per file;
- a line `# => TEXT` after a command gives what the commands since the previous `# =>` print;
  consecutive `# =>` lines are one expectation spanning several lines. Whitespace is ignored
  when comparing, and `...` (or `…`) stands for any text. Output that no `# =>` line covers
  fails the test, so every printed byte is either shown or explicitly elided;
- a block right after a line `<!-- illustrative -->` (or `<!-- illustrative: why -->`) is not
  run: it needs make, docker, a long-running server or a machine the test does not have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
ILLUSTRATIVE = re.compile(r"^<!--\s*illustrative\b.*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+)\s*(?P<language>[\w+-]*)\s*$")
EXPECTATION = re.compile(r"^\s*# =>(?: (?P<text>.*)|$)")
WILDCARD = re.compile(r"\.\.\.|…")
# Commands a non-illustrative block may not hold: they build, never end, or need docker.
NOT_RUNNABLE = re.compile(
    r"(^|[\s;&|(])(make|docker|docker-compose)\s|\bsimulator serve\b(?!\s+--help)"
)
DEFAULT_PORT = re.compile(r"\b(127\.0\.0\.1|localhost):8000\b")


@dataclass
class Step:
    """Commands and what they print (None: the block's trailing commands, which print nothing)."""

    commands: list[str] = field(default_factory=list)
    expected: str | None = None


@dataclass
class ShellBlock:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    illustrative: bool

    def steps(self) -> list[Step]:
        steps = [Step()]
        for line in self.text.splitlines():
            match = EXPECTATION.match(line)
            if match is None:
                if steps[-1].expected is not None:
                    steps.append(Step())
                steps[-1].commands.append(line)
                continue
            text = match.group("text") or ""
            current = steps[-1]
            current.expected = text if current.expected is None else f"{current.expected}\n{text}"
        if steps[-1].expected is not None:
            steps.append(Step())  # what follows the last expectation must print nothing
        return steps

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


def shell_blocks(path: Path) -> list[ShellBlock]:
    """Every fenced shell block of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[ShellBlock] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = closing_fence(lines, index, opening.group("fence"))
        language = opening.group("language").lower()
        if language in SHELL_LANGUAGES:
            indent = len(opening.group("indent"))
            body = "\n".join(line[indent:] for line in lines[index + 1 : end])
            blocks.append(
                ShellBlock(path, index + 1, language, body, marked_illustrative(lines, index))
            )
        index = end + 1
    return blocks


def closing_fence(lines: list[str], opening: int, fence: str) -> int:
    for index in range(opening + 1, len(lines)):
        if lines[index].strip() == fence:
            return index
    raise ValueError(f"line {opening + 1}: a fence that is never closed")


def marked_illustrative(lines: list[str], fence: int) -> bool:
    """The last non-blank line before the fence is the marker."""
    for index in range(fence - 1, -1, -1):
        if lines[index].strip():
            return bool(ILLUSTRATIVE.match(lines[index].strip()))
    return False


def output_matches(expected: str, actual: str) -> bool:
    """`actual` is `expected` up to whitespace, `...` standing for any text."""
    parts = [re.escape(squeeze(part)) for part in WILDCARD.split(expected)]
    return re.fullmatch(".*?".join(parts), squeeze(actual), re.DOTALL) is not None


def first_mismatch(expected: str, actual: str) -> str:
    """The first piece of `expected` (between wildcards) not found where it should be."""
    text, position = squeeze(actual), 0
    pieces = [squeeze(piece) for piece in WILDCARD.split(expected)]
    for index, piece in enumerate(pieces):
        found = text.find(piece, position)
        if found < 0 or (index == 0 and found != 0):
            return piece
        position = found + len(piece)
    return "(the end: more was printed)" if position < len(text) else ""


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def runnable_problem(block: ShellBlock) -> str | None:
    """Why a block not marked illustrative cannot be run by the test, or None."""
    for line in block.text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if NOT_RUNNABLE.search(line.replace(".venv/bin/simulator", "simulator")):
            return f"it runs {line.strip()!r}: mark the block <!-- illustrative -->"
    if block.language == "console" and any(
        line.startswith("$ ") for line in block.text.splitlines()
    ):
        return "write commands without a `$ ` prompt and their output as `# =>` lines"
    return None


def script(block: ShellBlock, port: int, mark: str) -> str:
    """The block as the test runs it: on the test's server, `mark` printed after each step."""
    lines = ["set -e", 'simulator() { "$SIMULATOR_PYTHON" -m simulator "$@"; }']
    for step in block.steps():
        lines.extend(adapt(command, port) for command in step.commands)
        if step.expected is not None:
            lines.append(f"printf '\\n%s\\n' '{mark}'")
    return "\n".join(lines) + "\n"


def adapt(command: str, port: int) -> str:
    command = command.replace(".venv/bin/simulator", "simulator")
    return DEFAULT_PORT.sub(f"127.0.0.1:{port}", command)
