"""Seeded fake volume: a `generate:` block in a fixture document, expanded into API sections.

`generate: {seed: 7, locale: en_US, customers: 5000}` asks every API with a generator for that
many customers of its own kind (ClientToolbox customers, ECDP customers, Talon.One profiles,
CustomerGauge list entries), drawn from Faker and random.Random seeded with `seed`: the same
block always gives the same data, byte for byte once dumped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from simulator.core.fixtures import FixtureError, first_validation_error


class GenerateBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    locale: str = "en_US"
    customers: int = Field(default=0, ge=0, le=1_000_000)
    # Per-API counts by name, e.g. {"talonone.sessions": 100}; each generator reads its own.
    counts: dict[str, int] = Field(default_factory=dict)


@dataclass
class GenerateContext:
    seed: int
    locale: str
    customers: int
    counts: dict[str, int] = field(default_factory=dict)
    # Counts asked for explicitly that the section cannot hold, with why (see `unmet`).
    unmet_counts: dict[str, str] = field(default_factory=dict)

    def rng(self, purpose: str) -> random.Random:
        """An independent seeded source per purpose, so adding one API changes no other's data."""
        from simulator.core.ids import seeded_rng

        return seeded_rng(self.seed, "generate", purpose)

    def faker(self, purpose: str) -> Any:
        from faker import Faker

        fake = Faker(self.locale)
        fake.seed_instance(self.rng(purpose).getrandbits(64))
        return fake

    def count(self, name: str, default: int) -> int:
        return self.counts.get(name, default)

    def unmet(self, name: str, reason: str) -> None:
        """A generator cannot make the entities of count `name` (no campaign to hold coupons,
        no profile to own a card, ...): if the document asked for some explicitly, it is
        refused with `reason` rather than silently given none."""
        if self.counts.get(name, 0) > 0:
            self.unmet_counts.setdefault(name, reason)


Generator = Callable[[GenerateContext, dict[str, Any]], dict[str, Any]]
"""(context, the section as written) -> the section with generated entries added."""


def generators() -> dict[str, Generator]:
    from simulator.core.registry import api_specs

    return {
        spec.fixtures.name: spec.fixtures.generate
        for spec in api_specs()
        if spec.fixtures is not None and spec.fixtures.generate is not None
    }


def count_names() -> list[str]:
    """Every name `generate.counts` may give, over all APIs."""
    from simulator.core.registry import api_specs

    return sorted(name for spec in api_specs() if spec.fixtures for name in spec.fixtures.counts)


def expand(document: dict[str, Any], source: str) -> dict[str, Any]:
    """The document with its `generate:` block replaced by the generated entries."""
    if "generate" not in document:
        return document
    try:
        block = GenerateBlock.model_validate(document["generate"] or {})
    except Exception as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            raise first_validation_error("generate", source, exc) from None
        raise
    known = count_names()
    for name in block.counts:
        if name not in known:
            raise FixtureError(
                source, f"generate.counts.{name}", f"unknown count (known: {', '.join(known)})"
            )
    context = GenerateContext(block.seed, block.locale, block.customers, dict(block.counts))
    try:
        context.faker("probe")
    except AttributeError:
        raise FixtureError(source, "generate.locale", f"unknown locale {block.locale!r}") from None
    expanded = {key: value for key, value in document.items() if key != "generate"}
    for name, generate in generators().items():
        section = expanded.get(name) or {}
        if not isinstance(section, dict):
            continue  # refused with its path by the validation that follows
        try:
            expanded[name] = generate(context, dict(section))
        except (TypeError, AttributeError, ValueError, KeyError, IndexError):
            # A malformed section as written: left as it is, so that validation names the
            # bad value's path instead of the generator failing on it.
            continue
    for name, reason in context.unmet_counts.items():
        raise FixtureError(source, f"generate.counts.{name}", reason)
    return expanded


def estimated_rows(document: dict[str, Any]) -> int:
    """How many records a document's `generate:` block asks for, at least: every generator
    makes `customers` of its kind, and each explicit count is that many of one kind. Read
    before anything is generated (0 when the block is malformed: validation refuses it)."""
    block = document.get("generate")
    if not isinstance(block, dict):
        return 0
    try:
        parsed = GenerateBlock.model_validate(block)
    except Exception:
        return 0
    explicit = sum(v for k, v in parsed.counts.items() if v > 0 and not k.endswith("_percent"))
    return max(parsed.customers * len(generators()), explicit)


def generate_document(
    seed: int,
    customers: int,
    locale: str = "en_US",
    extends: str | None = None,
    fixtures_dir: Path | None = None,
    **counts: int,
) -> str:
    """The YAML text of a generated document (`simulator fixtures generate`): with `extends`
    (a set's name or a file), that document with the generated entries added to it, whole."""
    from simulator.core.fixtures import apply_extends

    block: dict[str, Any] = {"seed": seed, "locale": locale, "customers": customers}
    if counts:
        block["counts"] = counts
    document: dict[str, Any] = {"generate": block}
    if extends is not None:
        if fixtures_dir is None:
            from simulator.config import get_settings

            fixtures_dir = get_settings().fixtures_dir
        document = {"extends": extends, **document}
        document, _ = apply_extends(document, "<generate>", fixtures_dir)
    expanded = expand(document, "<generate>")
    return yaml.safe_dump(expanded, sort_keys=True, allow_unicode=True, width=100)


# --- helpers shared by the API generators ---------------------------------------------------

POOL_SIZE = 400


@dataclass
class FakePools:
    """Faker values drawn once per purpose (Faker costs ~35 µs a call; 50,000 customers would take
    half a minute), then picked with a seeded random.Random: as realistic, and deterministic."""

    first_names: list[str]
    last_names: list[str]
    cities: list[str]
    streets: list[str]
    postcodes: list[str]
    words: list[str]

    @classmethod
    def build(cls, context: GenerateContext, purpose: str) -> FakePools:
        fake = context.faker(purpose)
        draw = range(POOL_SIZE)
        return cls(
            first_names=[fake.first_name() for _ in draw],
            last_names=[fake.last_name() for _ in draw],
            cities=[fake.city() for _ in draw],
            streets=[fake.street_address() for _ in draw],
            postcodes=[fake.postcode() for _ in draw],
            words=[fake.word() for _ in draw],
        )


def ascii_slug(text: str, fallback: str = "user") -> str:
    """`Zoë O'Brien` -> `zoeobrien`: what may stand in the local part of any API's e-mail."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = "".join(ch for ch in plain if ch.isalnum())
    return slug[:30] or fallback


def unique_email(first: str, last: str, number: int, domain: str) -> str:
    """Unique by construction: the counter is part of the address."""
    return f"{ascii_slug(first)}.{ascii_slug(last)}.{number}@{domain}"


EMAIL_DOMAINS = ("example.com", "example.org", "example.net")


def iso_day(rng: random.Random, start_year: int = 2024, days: int = 730) -> str:
    """A seeded date (YYYY-MM-DD) in the `days` after 1 January of `start_year`."""
    from datetime import date, timedelta

    return (date(start_year, 1, 1) + timedelta(days=rng.randrange(days))).isoformat()


def iso_instant(rng: random.Random, start_year: int = 2024, days: int = 730) -> str:
    seconds = rng.randrange(86_400)
    return f"{iso_day(rng, start_year, days)}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
