"""Talon.One tables: advanced events (`trackEventV3`), each an event of the events table known
by the unique integration ID its sender gave it."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

__all__ = ["TalonAdvancedEvent"]


class TalonAdvancedEvent(SQLModel, table=True):
    __tablename__ = "talonone_advanced_event"

    tenant_id: str = Field(primary_key=True, max_length=64)
    integration_id: str = Field(primary_key=True, max_length=1000)
    event_id: int
    connected_session_id: str | None = Field(default=None, max_length=1000)
