"""The achievements part of the `talonone` fixture section.

- `campaignAchievements`: `[{id, campaignId, name, title, description?, target, period?,
  recurrencePolicy?, activationPolicy?, fixedStartDate?, endDate?,
  allowRollbackAfterCompletion?, activity?: session | event, eventType?, measure?: count |
  total, created?}]`: what counts (closed sessions, or custom events of `eventType`), each by 1
  or by the session's total.
- `achievementProgress`: `[{id?, achievementId, profileId, progress, startDate?, endDate?,
  completionDate?}]`: customers' progress trackers, as an export writes them (`startDate`
  defaults to the load instant, `endDate` to the start plus the period).

(`achievements`, the inventory's static entries of the engagement part, is another key.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlmodel import select

from simulator.core.clock import UtcDateTime, format_instant
from simulator.core.fixtures import FixtureError, LoadContext, Strict, numbered, raise_to
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.achievements import TalonAchievement, TalonAchievementProgress
from simulator.talonone.service.achievements import PERIOD, TRACKERS, number, tracker_end
from simulator.talonone.service.profiles import ensure_profile


class AchievementDefinition(Strict):
    id: int = Field(ge=1)
    campaignId: int = Field(ge=1)
    name: str = Field(pattern=r"^[a-zA-Z]\w+$", max_length=1000)
    title: str = Field(min_length=1, max_length=1000)
    description: str = ""
    target: float = Field(gt=0, allow_inf_nan=False)
    period: str | None = Field(default=None, pattern=PERIOD.pattern)
    recurrencePolicy: Literal["no_recurrence", "on_expiration", "on_completion"] = "no_recurrence"
    activationPolicy: Literal["user_action", "fixed_schedule"] = "user_action"
    fixedStartDate: UtcDateTime | None = None
    endDate: UtcDateTime | None = None
    allowRollbackAfterCompletion: bool = False
    activity: Literal["session", "event"] = "session"
    eventType: str | None = Field(default=None, min_length=1, max_length=255)
    measure: Literal["count", "total"] = "count"
    created: UtcDateTime | None = None

    @model_validator(mode="after")
    def consistent(self) -> AchievementDefinition:
        if self.activity == "event" and not self.eventType:
            raise ValueError("an event activity needs eventType")
        if self.activity == "session" and self.eventType:
            raise ValueError("eventType needs activity event")
        if self.activity == "event" and self.measure == "total":
            raise ValueError("measure total counts sessions only")
        if self.activationPolicy == "fixed_schedule" and self.fixedStartDate is None:
            raise ValueError("activationPolicy fixed_schedule needs fixedStartDate")
        return self


class ProgressTracker(Strict):
    id: int | None = Field(default=None, ge=1)
    achievementId: int = Field(ge=1)
    profileId: str = Field(min_length=1, max_length=1000)
    progress: float = Field(ge=0, allow_inf_nan=False)
    startDate: UtcDateTime | None = None  # default: when the document is loaded
    endDate: UtcDateTime | None = None
    completionDate: UtcDateTime | None = None


class FixtureModel(Strict):
    campaignAchievements: list[AchievementDefinition] = Field(default_factory=list)
    achievementProgress: list[ProgressTracker] = Field(default_factory=list)


def check_references(fixture: Any, source: str) -> None:
    campaign_ids = {c.id for c in fixture.campaigns if "achievements" in c.features}
    seen: set[int] = set()
    for index, definition in enumerate(fixture.campaignAchievements):
        where = f"talonone.campaignAchievements[{index}]"
        if definition.id in seen:
            raise FixtureError(source, f"{where}.id", f"duplicate id {definition.id}")
        seen.add(definition.id)
        if definition.campaignId not in campaign_ids:
            raise FixtureError(
                source,
                f"{where}.campaignId",
                f"no campaign {definition.campaignId} with the achievements feature declared",
            )
    for index, tracker in enumerate(fixture.achievementProgress):
        if tracker.achievementId not in seen:
            raise FixtureError(
                source,
                f"talonone.achievementProgress[{index}].achievementId",
                f"no achievement {tracker.achievementId} declared",
            )


def load_fixtures(db: Store, tenant: Tenant, fixture: Any, context: LoadContext) -> None:
    check_references(fixture, context.source)
    definitions = {}
    for definition in fixture.campaignAchievements:
        row = TalonAchievement(
            tenant_id=tenant.id,
            id=definition.id,
            campaign_id=definition.campaignId,
            name=definition.name,
            title=definition.title,
            description=definition.description,
            target=definition.target,
            period=definition.period,
            recurrence_policy=definition.recurrencePolicy,
            activation_policy=definition.activationPolicy,
            fixed_start_date=definition.fixedStartDate,
            end_date=definition.endDate,
            allow_rollback_after_completion=definition.allowRollbackAfterCompletion,
            activity=definition.activity,
            event_type=definition.eventType,
            measure=definition.measure,
            created=definition.created or context.now,
        )
        definitions[row.id] = row
        db.add(row)
    trackers = fixture.achievementProgress
    ids = numbered([tracker.id for tracker in trackers])
    for tracker, tracker_id in zip(trackers, ids, strict=True):
        ensure_profile(db, tenant.id, tracker.profileId, context.now)
        start = tracker.startDate or context.now
        end: datetime | None = tracker.endDate
        if end is None:
            end = tracker_end(definitions[tracker.achievementId], start)
        db.add(
            TalonAchievementProgress(
                tenant_id=tenant.id,
                id=tracker_id,
                achievement_id=tracker.achievementId,
                profile_id=tracker.profileId,
                progress=tracker.progress,
                start_date=start,
                end_date=end,
                completion_date=tracker.completionDate,
            )
        )
    if ids:
        raise_to(db, tenant.id, TRACKERS, max(ids))
    db.flush()


def definition_entry(row: TalonAchievement) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": row.id,
        "campaignId": row.campaign_id,
        "name": row.name,
        "title": row.title,
        "description": row.description,
        "target": number(row.target),
        "recurrencePolicy": row.recurrence_policy,
        "activationPolicy": row.activation_policy,
        "allowRollbackAfterCompletion": row.allow_rollback_after_completion,
        "activity": row.activity,
        "measure": row.measure,
        "created": format_instant(row.created),
    }
    optional = {
        "period": row.period,
        "eventType": row.event_type,
        "fixedStartDate": row.fixed_start_date and format_instant(row.fixed_start_date),
        "endDate": row.end_date and format_instant(row.end_date),
    }
    entry.update({key: value for key, value in optional.items() if value is not None})
    return entry


def tracker_entry(row: TalonAchievementProgress) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": row.id,
        "achievementId": row.achievement_id,
        "profileId": row.profile_id,
        "progress": number(row.progress),
        "startDate": format_instant(row.start_date),
    }
    if row.end_date is not None:
        entry["endDate"] = format_instant(row.end_date)
    if row.completion_date is not None:
        entry["completionDate"] = format_instant(row.completion_date)
    return entry


def export_achievements(db: Store, tenant: Tenant) -> dict[str, Any]:
    definitions = db.scalars(
        select(TalonAchievement)
        .where(TalonAchievement.tenant_id == tenant.id)
        .order_by(TalonAchievement.id)
    )
    trackers = db.scalars(
        select(TalonAchievementProgress)
        .where(TalonAchievementProgress.tenant_id == tenant.id)
        .order_by(TalonAchievementProgress.id)
    )
    return {
        "campaignAchievements": [definition_entry(row) for row in definitions],
        "achievementProgress": [tracker_entry(row) for row in trackers],
    }


def export_fixtures(db: Store, tenant: Tenant) -> dict[str, Any]:
    return export_achievements(db, tenant)
