"""Background threads of a server process give way to its event loop.

The journal's writer and the WAL checkpointer wake a few times a second and spend a few
milliseconds in SQLite each time. On a machine with as many busy threads as cores (the event
loop, those threads, a test suite or load generator beside the server), the kernel shares a
core between them in slices of a few milliseconds, and a request that arrives while the loop's
thread is waiting for its slice waits with it: the tail of a one-connection read. A background
thread that runs at a lower priority (a higher nice value) still gets the time the loop leaves
idle, and nearly all of a core whenever it is the only one ready to run; it just no longer
takes a slice from the loop when both are ready.
"""

from __future__ import annotations

import contextlib
import os
import threading

# A nice value of 10 weighs a thread at about a tenth of one at 0 when both are ready to run.
BACKGROUND_NICE = 10


def lower_priority() -> None:
    """Run the calling thread at BACKGROUND_NICE (Linux sets it per thread; elsewhere, or where
    the system refuses, the thread keeps its priority)."""
    if not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):
        thread_id = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, max(current, BACKGROUND_NICE))
