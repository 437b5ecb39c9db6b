"""JSON bodies: stored JSON text goes into a body unchanged, whichever serializer writes it."""

from __future__ import annotations

import json

from simulator.core.formats import JsonText, dump_json

STORED = '[{"effectType":"setDiscount","props":{"name":"10% off","value":12.5}}]'


def test_stored_json_text_is_embedded_as_json_not_as_a_string() -> None:
    body = dump_json({"customerSession": {"id": 1}, "effects": JsonText(STORED)})
    assert json.loads(body) == {"customerSession": {"id": 1}, "effects": json.loads(STORED)}


def test_what_only_the_standard_library_writes_still_embeds_the_text() -> None:
    huge = 10**30  # beyond 64 bits: orjson refuses the document
    body = dump_json({"attributes": {"n": huge}, "effects": JsonText(STORED)})
    assert json.loads(body) == {"attributes": {"n": huge}, "effects": json.loads(STORED)}
    pretty = dump_json({"effects": JsonText(STORED)}, pretty=True)
    assert json.loads(pretty) == {"effects": json.loads(STORED)} and b"\n" in pretty


def test_other_objects_are_still_refused() -> None:
    try:
        dump_json({"x": object()})
    except TypeError:
        return
    raise AssertionError("an object that is not JSON was written")
