"""README.md and docs/*.md link only to files of the repository, and every such link resolves:
to a file that exists and, for `#anchor` links, to a heading of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*```")
# Paths outside the repository that the docs must never name (the project's research notes and
# the machine it was built on).
OUTSIDE = re.compile(r"\.\./shared\b|(?<![\w.])/work/|/home/\w+/")


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The file's lines outside fenced blocks (a link in a code example is not a link)."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def anchors(path: Path) -> set[str]:
    """GitHub's ids of a Markdown file's headings."""
    found: set[str] = set()
    for _number, line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids)
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    broken = []
    for number, line in prose_lines(document):
        for target in LINK.findall(line):
            if EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (document.parent / file_part).resolve() if file_part else document
            where = f"{ids(document)}:{number}: {target}"
            if not resolved.is_relative_to(ROOT):
                broken.append(f"{where} points outside the repository")
            elif not resolved.exists():
                broken.append(f"{where}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{where}: no heading #{anchor} in {ids(resolved)}")
    assert broken == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids)
def test_no_path_outside_the_repository_is_named(document: Path) -> None:
    named = [
        f"{ids(document)}:{number}: {line.strip()}"
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert named == []


def test_the_readme_links_every_page_of_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = {f"docs/{path.name}" for path in DOCUMENTS[1:]} | {"docs/performance.md"}
    assert sorted(page for page in pages if f"]({page}" not in readme) == []


def test_the_readme_is_a_front_page() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
