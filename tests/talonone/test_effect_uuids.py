"""Effect transaction UUIDs: version-5 UUIDs of the effect's key, the same on every call."""

from __future__ import annotations

import uuid

from simulator.talonone.service.effects import TRANSACTION_NAMESPACE, transaction_uuid


def test_transaction_uuid_is_the_uuid5_of_its_key() -> None:
    for parts in [("t-1", "session:s-1", 3, 0, 2), ("default", "event:9"), ("é", "✓", "a:b")]:
        key = ":".join(str(p) for p in parts)
        text = transaction_uuid(*parts)
        assert text == str(uuid.uuid5(TRANSACTION_NAMESPACE, key))
        assert uuid.UUID(text).version == 5
    assert transaction_uuid("a", "b", 1) != transaction_uuid("a", "b", 2)
