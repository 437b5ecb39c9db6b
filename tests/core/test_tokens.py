"""Cache revisions and ledger versions: random 62-bit values, never repeated, not by a child
process either (it draws from a state of its own)."""

from __future__ import annotations

import os

from simulator.core.models import fresh_token


def test_tokens_fit_62_bits_and_do_not_repeat() -> None:
    drawn = [fresh_token() for _ in range(10_000)]
    assert len(set(drawn)) == len(drawn)
    assert all(0 <= value < 2**62 for value in drawn)


def test_a_forked_child_draws_other_tokens_than_its_parent() -> None:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next draws, written to the parent
        os.close(reader)
        os.write(writer, ",".join(str(fresh_token()) for _ in range(5)).encode())
        os._exit(0)
    os.close(writer)
    parent = [fresh_token() for _ in range(5)]
    with os.fdopen(reader) as pipe:
        child = [int(value) for value in pipe.read().split(",")]
    os.waitpid(pid, 0)
    assert not set(child) & set(parent)
