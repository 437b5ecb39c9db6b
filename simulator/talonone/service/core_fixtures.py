"""The core part of the `talonone` fixture section."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from simulator.core.fixtures import LoadContext
from simulator.core.models import Tenant


class FixtureModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def load_fixtures(db: Session, tenant: Tenant, fixture: Any, context: LoadContext) -> None:
    """Write this part's rows from the validated section (the caller commits)."""


def export_fixtures(db: Session, tenant: Tenant) -> dict[str, Any]:
    return {}
