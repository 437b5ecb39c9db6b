"""Fixture documents: one YAML/JSON document per tenant, one section per API.

Each API package registers a `FixtureSection` (its schema, loader and exporter) on its ApiSpec.
A document is validated whole before anything is written: a document with an error loads nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from simulator.core import storable
from simulator.core.ids import next_value
from simulator.core.models import Tenant, fresh_token
from simulator.core.store import Store


class FixtureError(Exception):
    """A refused fixture document: where (file, path inside it) and why."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source, self.path, self.reason = source, path, reason
        super().__init__(f"{source}: {path or '<document>'}: {reason}")

    def as_dict(self) -> dict[str, str]:
        """What an HTTP answer says: where, without the directory of an operator's file."""
        return {"file": public_label(self.source), "path": self.path, "reason": self.reason}


@dataclass
class LoadContext:
    """What a section loader may need besides the session and tenant."""

    seed: int
    now: datetime
    source: str


class Strict(BaseModel):
    """A fixture model: unknown keys refused, fields given by name or alias, its schema built
    on first use (a start that loads no document does not pay for it)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", populate_by_name=True)


@dataclass
class FixtureSection:
    """One API's part of a fixture document."""

    name: str
    schema: type[BaseModel]
    load: Callable[[Store, Tenant, Any, LoadContext], None]
    export: Callable[[Store, Tenant], dict[str, Any]] | None = None
    # (GenerateContext, section as written) -> section with seeded fake entries added.
    generate: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None
    # The lists `extends:` merges item by item: a list's path inside the section (`[]` for any
    # index: "campaigns[].rewards") -> the fields that name an item, in the order tried.
    # Any other list in a document replaces the base's.
    list_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The names `generate.counts` may give this section's generator ("talonone.coupons").
    counts: tuple[str, ...] = ()


class ClockFixture(BaseModel):
    """`{now, frozen}`, or `{offsetSeconds}`: an unfrozen clock running that far from real time
    (what an export of an unfrozen, shifted clock writes: a copy runs at the same offset
    whenever it is loaded)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    now: datetime | None = None
    frozen: bool = False
    offsetSeconds: float | None = None

    @field_validator("now")
    @classmethod
    def now_in_range(cls, value: datetime | None) -> datetime | None:
        from simulator.core.clock import ClockOutOfRange, checked_instant

        try:
            return None if value is None else checked_instant(value, "now")
        except ClockOutOfRange as exc:
            raise ValueError(exc.detail) from None

    @field_validator("offsetSeconds")
    @classmethod
    def offset_in_range(cls, value: float | None) -> float | None:
        """In range from real time when the document is validated (just before it loads)."""
        from simulator.core.clock import ClockOutOfRange, checked_offset

        try:
            return None if value is None else checked_offset(value, "offsetSeconds")
        except ClockOutOfRange as exc:
            raise ValueError(exc.detail) from None

    @model_validator(mode="after")
    def one_setting(self) -> ClockFixture:
        if self.offsetSeconds is not None and self.frozen:
            raise ValueError("offsetSeconds: a frozen clock has no offset (give now)")
        if self.offsetSeconds is not None and self.now is not None:
            raise ValueError("offsetSeconds: give now or offsetSeconds, not both")
        return self


class TenantFixture(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None


# --- ids given by a document ------------------------------------------------------------------


def raise_to(session: Store, tenant_id: str, name: str, value: int) -> None:
    """Move a counter up to `value` (never down), so the next id taken follows the ids a fixture
    document gave explicitly (exported rows keep theirs)."""
    current = next_value(session, tenant_id, name, step=0)
    if value > current:
        next_value(session, tenant_id, name, step=value - current)


def numbered(given: list[int | None]) -> list[int]:
    """The ids a document gives, and for rows without one the numbers after the highest given
    (so a loaded export keeps its ids and hand-written rows are numbered 1, 2, ...)."""
    last = max((i for i in given if i is not None), default=0)
    ids = []
    for value in given:
        if value is None:
            last += 1
            value = last
        ids.append(value)
    return ids


def error_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """('campaigns', 2, 'effects', 0, 'points') -> 'prefix.campaigns[2].effects[0].points'."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


# A section-wide check may name where inside the section it failed: "customers[0].campaign: ...",
# also by a mapping's key ("before.customers.12121: ...").
SUB_PATH = re.compile(
    r"^(?:Value error, )?([A-Za-z_]\w*(?:\[\d+\])*(?:\.\w+(?:\[\d+\])*)*): (.+)$", re.S
)


def first_validation_error(prefix: str, source: str, error: ValidationError) -> FixtureError:
    detail = error.errors()[0]
    loc = tuple(p for p in detail["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path, message = error_path(prefix, loc), detail["msg"].removeprefix("Value error, ")
    named = SUB_PATH.match(message)
    if named is not None:
        sub_path, message = named.groups()
        path = f"{path}.{sub_path}" if path else sub_path
    return FixtureError(source, path, message)


# libyaml's parser when PyYAML was built with it: about ten times faster than the pure-Python
# one (what a new store's start spends on fixtures/default.yaml), with the same constructors.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str | bytes) -> Any:
    """`yaml.safe_load` on the fast parser; a document it refuses is parsed again by the
    pure-Python one, whose error (with its line, column and snippet) is the one reported."""
    try:
        return yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        if FAST_LOADER is yaml.SafeLoader:
            raise
    return yaml.safe_load(text)


def parse_document(text: str | bytes, source: str) -> dict[str, Any]:
    """YAML (JSON is YAML too) through `safe_load`; the top level must be a mapping."""
    try:
        document = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FixtureError(source, where, f"not valid YAML/JSON: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise FixtureError(source, "", "a fixture document must be a mapping of sections")
    return document


# Where a document came from, as stored on its tenant and named in errors: a set's name, a file
# path (the operator's), or one of these.
INLINE = "inline"
NO_FIXTURES = "none"
# Documents sent in a request (and, before this label, stored as "<inline>"): the only ones
# whose `extends` is held to set names.
SENT_IN_A_REQUEST = frozenset({INLINE, "<inline>"})

# A set's name: what `fixtures` and `extends` may say through HTTP. No separator, no dot (so
# no `..`), short enough for any file system.
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SET_SUFFIXES = (".yaml", ".yml", ".json")


def public_label(source: str) -> str:
    """`source` as a response may show it: a file's name without its directory."""
    return re.split(r"[\\/]", source)[-1]


def find_named_set(name: str, fixtures_dir: Path) -> Path | None:
    if SET_NAME.fullmatch(name) is None:
        return None
    for suffix in SET_SUFFIXES:
        candidate = fixtures_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def set_names(fixtures_dir: Path) -> list[str]:
    """The sets a request may name (the fixtures directory's documents)."""
    found = {
        path.stem
        for path in fixtures_dir.iterdir()
        if path.suffix in SET_SUFFIXES and SET_NAME.fullmatch(path.stem) and path.is_file()
    }
    return sorted(found)


def refused_reference(reference: str, fixtures_dir: Path, source: str, where: str) -> FixtureError:
    """A reference that is no set's name. Nothing outside the fixtures directory was looked
    at, so every path gets this same answer (it echoes no part of it)."""
    sets = ", ".join(set_names(fixtures_dir))
    if SET_NAME.fullmatch(reference) is not None:
        return FixtureError(reference, where, f"no fixture set of that name (sets: {sets})")
    return FixtureError(
        source,
        where,
        f"must be a fixture set's name (sets: {sets}) or a document sent inline; files are "
        "loaded by the operator only (--fixtures, SIM_FIXTURES)",
    )


def resolve(
    reference: str | dict | None, fixtures_dir: Path, allow_paths: bool = True
) -> tuple[dict[str, Any], str]:
    """A set's name, a file path, an inline document, or none -> (document, source label).

    `allow_paths=False` (a reference sent over HTTP): a set's name or a document only; a file
    of the server is never opened, whether or not it exists.
    """
    if reference is None or reference == "" or reference == NO_FIXTURES:
        return {}, NO_FIXTURES
    if isinstance(reference, dict):
        return reference, INLINE
    named = find_named_set(reference, fixtures_dir)
    if named is not None:
        return parse_document(named.read_text(encoding="utf-8"), reference), reference
    if not allow_paths:
        raise refused_reference(reference, fixtures_dir, "request", "fixtures")
    path = Path(reference)
    if not path.is_file():
        raise FixtureError(reference, "", "no fixture set or file of that name")
    return parse_document(path.read_text(encoding="utf-8"), str(path)), str(path)


def sections() -> dict[str, FixtureSection]:
    from simulator.core.registry import api_specs

    return {spec.fixtures.name: spec.fixtures for spec in api_specs() if spec.fixtures}


# `{"$replace": value}` in a document that extends another: this value, not merged with the
# base's (how a list of keyed items is replaced rather than merged).
REPLACE = "$replace"

# Where a node of a merged document was written: (the document's source, its path there). Kept
# only for nodes whose source or path differ from the extending document's; the longest prefix
# of a path decides.
Origins = dict[str, tuple[str, str]]


def located(origins: Origins, source: str, path: str) -> tuple[str, str]:
    """(source, path) of what sits at `path` of the merged document, as its author wrote it."""
    best = ""
    for prefix in origins:
        if len(prefix) > len(best) and (
            path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))
        ):
            best = prefix
    if not best:
        return source, path
    origin_source, origin_path = origins[best]
    return origin_source, origin_path + path[len(best) :]


def relocated(error: FixtureError, origins: Origins, source: str) -> FixtureError:
    """An error found in a merged document, moved to the file and path its author wrote."""
    if not origins or error.source != source:
        return error
    where, path = located(origins, source, error.path)
    if (where, path) == (error.source, error.path):
        return error
    return FixtureError(where, path, error.reason)


def child(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def is_replacement(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and REPLACE in value


def list_keys() -> dict[str, tuple[str, ...]]:
    """Every section's keyed lists, by pattern from the document's top ("talonone.coupons")."""
    return {
        f"{name}.{pattern}": keys
        for name, section in sections().items()
        for pattern, keys in section.list_keys.items()
    }


class Merge:
    """The base document (already merged with its own bases) with an extending one over it."""

    def __init__(self, base_source: str, base_origins: Origins, source: str) -> None:
        self.base_source, self.base_origins, self.source = base_source, base_origins, source
        self.keys = list_keys()
        self.origins: Origins = {}

    def from_base(self, base_path: str, path: str) -> None:
        """The node at `path` is the base's node at `base_path`: note where that was written."""
        self.origins[path] = located(self.base_origins, self.base_source, base_path)
        for prefix, origin in self.base_origins.items():
            if prefix.startswith((f"{base_path}.", f"{base_path}[")):
                self.origins[path + prefix[len(base_path) :]] = origin

    def from_document(self, written: str, path: str) -> None:
        if written != path:
            self.origins[path] = (self.source, written)

    def value(self, base: Any, over: Any, base_path: str, written: str, path: str) -> Any:
        """`over` (written at `written` in the extending document) merged over `base`."""
        if is_replacement(over):
            self.from_document(written, path)
            return plain(over[REPLACE])
        if isinstance(base, dict) and isinstance(over, dict) and path != "clock":
            return self.mapping(base, over, base_path, written, path)
        pattern = re.sub(r"\[\d+\]", "[]", path)
        if isinstance(base, list) and isinstance(over, list) and pattern in self.keys:
            return self.keyed_list(base, over, self.keys[pattern], base_path, written, path)
        self.from_document(written, path)
        return plain(over)

    def mapping(
        self, base: dict, over: dict, base_path: str, written: str, path: str
    ) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key, value in base.items():
            if key not in over:
                merged[key] = value
                self.from_base(child(base_path, key), child(path, key))
        for key, value in over.items():
            if key in base:
                merged[key] = self.value(
                    base[key],
                    value,
                    child(base_path, key),
                    child(written, key),
                    child(path, key),
                )
            else:
                merged[key] = plain(value)
                self.from_document(child(written, key), child(path, key))
        return {key: merged[key] for key in [*base, *(k for k in over if k not in base)]}

    def keyed_list(
        self,
        base: list,
        over: list,
        keys: tuple[str, ...],
        base_path: str,
        written: str,
        path: str,
    ) -> list[Any]:
        """Items of `over` that name a base item (by the first of `keys` they carry) are merged
        into it, in its place; the others are added after the base's items."""
        index = {
            key: {identity(item, key): i for i, item in reversed(list(enumerate(base)))}
            for key in keys
        }
        merged: list[Any] = list(base)
        written_at: dict[int, int] = {}
        added: list[tuple[int, Any]] = []
        for j, item in enumerate(over):
            key = next((k for k in keys if identity(item, k) is not None), None)
            i = index[key].get(identity(item, key)) if key is not None else None
            if i is None or i in written_at:
                added.append((j, item))
            else:
                written_at[i] = j
        for i, item in enumerate(base):
            if i in written_at:
                j = written_at[i]
                merged[i] = self.value(
                    item, over[j], child(base_path, i), child(written, j), child(path, i)
                )
            else:
                self.from_base(child(base_path, i), child(path, i))
        for j, item in added:
            self.from_document(child(written, j), child(path, len(merged)))
            merged.append(plain(item))
        return merged


def identity(item: Any, key: str) -> Any:
    """What names a list item under `key`: its field, or a plain item itself (an e-mail of an
    unsubscribe list). None: the item has no such name."""
    value = item.get(key) if isinstance(item, dict) else item
    # As text: YAML reads `id: 4638472975924871` as a number, a JSON document may quote it.
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def plain(value: Any) -> Any:
    """`value` with every `$replace` marker in it taken off (nothing is under it to replace)."""
    if is_replacement(value):
        return plain(value[REPLACE])
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def apply_extends(
    document: dict[str, Any], source: str, fixtures_dir: Path, depth: int = 0
) -> tuple[dict[str, Any], Origins]:
    """`extends: <set name or path>`: the named document, with this one merged over it; and
    where each node of the result was written (`Origins`, for errors).

    Mappings merge key by key; the lists the sections name (`FixtureSection.list_keys`) merge
    item by item by their key (an item naming a base item changes it, others are added); any
    other value, and `{"$replace": value}`, replaces the base's. A document sent in a request
    may only extend a set (by name); the operator's documents (sets, files) may also name a file.
    """
    if "extends" not in document:
        return plain(document), {}
    if depth >= 5:
        raise FixtureError(source, "extends", "more than 5 levels of extends")
    reference = document["extends"]
    if not isinstance(reference, str) or not reference:
        raise FixtureError(source, "extends", "must name a fixture set or file")
    if source in SENT_IN_A_REQUEST and find_named_set(reference, fixtures_dir) is None:
        raise refused_reference(reference, fixtures_dir, source, "extends")
    base, base_source = resolve(reference, fixtures_dir)
    merged_base, base_origins = apply_extends(base, base_source, fixtures_dir, depth + 1)
    merge = Merge(base_source, base_origins, source)
    own = {key: value for key, value in document.items() if key != "extends"}
    return merge.mapping(merged_base, own, "", "", ""), merge.origins


class Validated(dict[str, Any]):
    """The validated sections by name, and where the merged document's nodes were written."""

    origins: Origins = {}
    source: str = ""


def check_storable(document: dict[str, Any], source: str) -> None:
    """Every string and number of the document is one the store can hold (no NUL or lone
    surrogate, numbers finite and within the amounts' range: core/storable), else FixtureError
    at the path the user wrote."""
    found = storable.find_bad_text(document) or storable.find_bad_number(document)
    if found is not None:
        pointer, reason = found
        raise FixtureError(source, dotted_path(pointer), reason)


def dotted_path(pointer: str) -> str:
    """A JSON pointer (`/ecdp/customers/0/email`) as fixture errors write paths
    (`ecdp.customers[0].email`)."""
    out = ""
    for step in pointer.split("/")[1:]:
        step = step.replace("~1", "/").replace("~0", "~")
        out += f"[{step}]" if step.isdigit() else f".{step}" if out else step
    return out


def validate(
    document: dict[str, Any], source: str, fixtures_dir: Path | None = None
) -> dict[str, Any]:
    """Check every section (after `extends:` and a `generate:` block); returns the models.

    `fixtures_dir`: where `extends` finds sets (default: the configured directory).
    """
    from simulator.core.generate import expand

    if fixtures_dir is None:
        from simulator.config import get_settings

        fixtures_dir = get_settings().fixtures_dir
    # `extends` is refused by its own rule (a set's name), alike for every value it may hold.
    check_storable({k: v for k, v in document.items() if k != "extends"}, source)
    merged, origins = apply_extends(document, source, fixtures_dir)
    validated = Validated()
    validated.origins, validated.source = origins, source
    try:
        document = expand(merged, source)
        for key, value in document.items():
            validated[key] = validate_section(key, value, source)
    except FixtureError as exc:
        raise relocated(exc, origins, source) from None
    return validated


def validate_section(key: str, value: Any, source: str) -> BaseModel:
    known = sections()
    if key == "clock":
        schema: type[BaseModel] = ClockFixture
    elif key == "tenant":
        schema = TenantFixture
    elif key in known:
        schema = known[key].schema
    else:
        allowed = ", ".join(sorted(["clock", "tenant", *known]))
        raise FixtureError(source, str(key), f"unknown section (expected one of: {allowed})")
    try:
        return schema.model_validate(value if value is not None else {})
    except ValidationError as exc:
        raise first_validation_error(str(key), source, exc) from None


def apply(session: Store, tenant: Tenant, validated: dict[str, Any], context: LoadContext) -> None:
    """Write every section in the caller's transaction (the caller commits or rolls back)."""
    from simulator.core.clock import reset_clock

    clock: ClockFixture | None = validated.get("clock")
    reset_clock(tenant)
    tenant.cache_revision = fresh_token()  # what processes keep of it is out of date
    if clock is not None and clock.now is not None:
        now = clock.now if clock.now.tzinfo else clock.now.replace(tzinfo=context.now.tzinfo)
        tenant.clock_frozen = clock.frozen
        tenant.clock_frozen_at = now if clock.frozen else None
        tenant.clock_offset_seconds = 0.0 if clock.frozen else (now - context.now).total_seconds()
        context.now = now
    elif clock is not None and clock.offsetSeconds is not None:
        tenant.clock_offset_seconds = clock.offsetSeconds
        context.now = context.now + timedelta(seconds=clock.offsetSeconds)
    session.add(tenant)
    session.flush()
    try:
        for name, section in sections().items():
            if name in validated:
                section.load(session, tenant, validated[name], context)
    except FixtureError as exc:
        if isinstance(validated, Validated):
            raise relocated(exc, validated.origins, validated.source) from None
        raise


def export(session: Store, tenant: Tenant) -> dict[str, Any]:
    """The tenant's current state as a fixture document."""
    from simulator.core.clock import EARLIEST, LATEST, format_instant, tenant_now

    document: dict[str, Any] = {"tenant": {"name": tenant.name}}
    if tenant.clock_frozen:
        document["clock"] = {"now": format_instant(tenant_now(tenant)), "frozen": True}
    elif tenant.clock_offset_seconds:
        now = tenant_now(tenant)
        if now in (EARLIEST, LATEST):  # standing at a bound: an offset would load past it
            document["clock"] = {"now": format_instant(now), "frozen": False}
        else:
            document["clock"] = {"frozen": False, "offsetSeconds": tenant.clock_offset_seconds}
    for name, section in sections().items():
        if section.export is not None:
            document[name] = section.export(session, tenant)
    return document


def dump_json(document: dict[str, Any]) -> str:
    return json.dumps(document, default=str, sort_keys=True)
