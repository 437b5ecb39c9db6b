"""How deep a JSON text nests, found by orjson's C parser (no recursion in Python).

Python's `json` raises RecursionError (not a ValueError) past about 1,000 levels, and even a
document it reads ends in code that recurses over it (validation, `json.dumps`, merging): a body
nested 100,000 levels deep was a 500. orjson refuses more than its own fixed ceiling (1,024
levels) with a JSONDecodeError; parsing the text inside (ceiling - limit) levels of padding
makes that same check refuse anything nested more than `limit` levels, in one pass.
"""

from __future__ import annotations

import orjson

MAX_JSON_NESTING = 64  # arrays and objects inside one another; the default fixtures use 10


def _orjson_ceiling() -> int:
    """The deepest nesting orjson accepts (1,024 in every release so far), found once."""
    low, high = 1, 1 << 16
    while high - low > 1:
        middle = (low + high) // 2
        try:
            orjson.loads(b"[" * middle + b"]" * middle)
            low = middle
        except orjson.JSONDecodeError:
            high = middle
    return low


ORJSON_CEILING = _orjson_ceiling()


def json_deeper_than(data: bytes, limit: int = MAX_JSON_NESTING) -> bool:
    """Whether `data` nests arrays/objects more than `limit` levels. Text that is not JSON is
    not judged here (False): the reader that parses it gives its own error, at the same first
    mistake, before it could reach any depth this one did not see."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    padding = ORJSON_CEILING - limit
    if padding <= 0:
        raise ValueError(f"nesting limit {limit} is beyond orjson's {ORJSON_CEILING}")
    try:
        orjson.loads(b"[" * padding + data + b"]" * padding)
    except orjson.JSONDecodeError as error:
        return "depth" in str(error)
    return False
