"""The docs test's reading of Markdown (tests/docs/shell_blocks.py): fences, the illustrative
marker, `# =>` steps and the comparison."""

from __future__ import annotations

from pathlib import Path

from tests.docs.shell_blocks import (
    first_mismatch,
    output_matches,
    runnable_problem,
    script,
    shell_blocks,
)

DOC = """# Title

```sh
curl -s 127.0.0.1:8000/a
# => {"a": 1,
# =>  "b": [...]}
H='x'
curl -s localhost:8000/b -H "$H"
# => ...
.venv/bin/simulator fixtures validate demo
```

<!-- illustrative: needs docker -->

```bash
docker compose up
```

```json
{"not": "shell"}
```

```console
make run
```
"""


def test_blocks_their_languages_and_the_marker(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    blocks = shell_blocks(path)
    assert [(b.line, b.language, b.illustrative) for b in blocks] == [
        (3, "sh", False),
        (15, "bash", True),
        (23, "console", False),
    ]
    assert runnable_problem(blocks[0]) is None
    assert "illustrative" in (runnable_problem(blocks[2]) or "")


def test_steps_and_the_script(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    steps = shell_blocks(path)[0].steps()
    assert [step.expected for step in steps] == ['{"a": 1,\n "b": [...]}', "...", None]
    assert steps[-1].commands == [".venv/bin/simulator fixtures validate demo"]
    text = script(shell_blocks(path)[0], 5555, "MARK")
    assert "127.0.0.1:5555/a" in text and "127.0.0.1:5555/b" in text
    assert "\nsimulator fixtures validate demo" in text
    assert text.count("MARK") == 2


def test_comparison_ignores_whitespace_and_takes_wildcards() -> None:
    assert output_matches('{"a": 1, "b": [...]}', '{"a":1,"b":[2,3]}\n')
    assert output_matches("…", "anything at all")
    assert not output_matches('{"a": 1}', '{"a":2}')
    assert not output_matches('{"a": 1}', '{"a":1}{"extra":0}')
    assert output_matches("valid", "  valid\n")


def test_a_mismatch_names_the_piece_not_found() -> None:
    assert first_mismatch('{"a": 1, ..., "c": 3}', '{"a":1,"b":2,"c":4}') == ',"c":3}'
    assert first_mismatch('{"a": 1}', '{"a":1}extra') == "(the end: more was printed)"
    assert first_mismatch("x...", "yx") == "x"
