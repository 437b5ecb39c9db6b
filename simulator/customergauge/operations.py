"""The CustomerGauge 4.1 operations the simulator serves (core/operations).

Paths are `/v4.1/<module>/<method>` with an optional `.json` or `.xml` (the answer's format).
The docs name no operations: each is named by its module and method (and its HTTP method where a
method answers two), and also answers to `module/method` (`stream/transactional`), as the docs
write the call.
"""

from __future__ import annotations

from simulator.core.operations import Operation, OperationTable


def v41(name: str, method: str, module_method: str, summary: str) -> Operation:
    base = f"/v4.1/{module_method}"
    return Operation(
        "customergauge",
        name,
        method,
        (base, f"{base}.json", f"{base}.xml"),
        aliases=(module_method,),
        summary=summary,
    )


# The stream worker's processing of a queued upload: a fault rule naming it fails attempts
# (customergauge/worker.py asks core/faults/stream.py before each).
STREAM_PROCESS = "stream.process"

OPERATIONS = OperationTable(
    "customergauge",
    [
        v41("StreamTransactional", "POST", "stream/transactional", "Upload transactional records"),
        v41("FileTransactional", "GET", "file/transactional", "Status of uploaded files"),
        v41("GetUnsubscribe", "GET", "lists/unsubscribe", "Read the unsubscribe list"),
        v41("PostUnsubscribe", "POST", "lists/unsubscribe", "Add to the unsubscribe list"),
        v41("GetBounce", "GET", "lists/bounce", "Read the bounce list"),
        Operation(
            "customergauge",
            "OAuth2Token",
            "POST",
            ("/oauth2/token",),
            summary="OAuth2 client-credentials token",
        ),
    ],
    background=[STREAM_PROCESS],
)
