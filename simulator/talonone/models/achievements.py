"""Talon.One tables: achievements (campaign goals a customer progresses towards) and each
customer's progress in them, one tracker per period, with what each session or event added."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from simulator.core.db import UTCDateTime

__all__ = ["TalonAchievement", "TalonAchievementContribution", "TalonAchievementProgress"]


class TalonAchievement(SQLModel, table=True):
    __tablename__ = "talonone_achievement"

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    campaign_id: int
    name: str = Field(max_length=1000)
    title: str = Field(max_length=1000)
    description: str = ""
    target: float
    period: str | None = Field(default=None, max_length=32)
    recurrence_policy: str = Field(default="no_recurrence", max_length=20)
    activation_policy: str = Field(default="user_action", max_length=20)
    fixed_start_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    allow_rollback_after_completion: bool = False
    # What counts: closed customer sessions, or custom events of `event_type`; each counts 1
    # (measure "count") or the session's total (measure "total", sessions only).
    activity: str = Field(default="session", max_length=20)
    event_type: str | None = Field(default=None, max_length=255)
    measure: str = Field(default="count", max_length=20)
    created: datetime = Field(sa_type=UTCDateTime)


class TalonAchievementProgress(SQLModel, table=True):
    """One period of a customer in an achievement (the API's progress tracker)."""

    __tablename__ = "talonone_achievement_progress"
    __table_args__ = (
        Index(
            "ix_talonone_achievement_progress_profile",
            "tenant_id",
            "profile_id",
            "achievement_id",
            "start_date",
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    achievement_id: int
    profile_id: str = Field(max_length=1000)
    progress: float = 0.0
    start_date: datetime = Field(sa_type=UTCDateTime)
    end_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completion_date: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TalonAchievementContribution(SQLModel, table=True):
    """What one closed session (or event) added to a tracker: a cancel or reopen takes it back."""

    __tablename__ = "talonone_achievement_contribution"
    __table_args__ = (Index("ix_talonone_achievement_contribution", "tenant_id", "session_id"),)

    pk: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    progress_id: int
    session_id: str = Field(max_length=255)
    delta: float
