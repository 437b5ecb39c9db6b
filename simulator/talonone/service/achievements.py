"""Achievements: goals of a campaign a customer progresses towards by closing sessions or
sending events, one progress tracker per period.

A tracker starts with the customer's first counted activity (`user_action`) or at the
achievement's `fixedStartDate` (`fixed_schedule`), ends after `period` (never without one, and
at the achievement's `endDate` at the latest) and completes when its progress reaches the
target. The next activity after an ended tracker starts a new one when the recurrence policy
allows it: `on_expiration` once the period is over, `on_completion` also once completed,
`no_recurrence` never. A cancelled or reopened session takes back what it added (after the
completion only with `allowRollbackAfterCompletion`).
"""

from __future__ import annotations

import functools
import re
from calendar import monthrange
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.ids import next_value
from simulator.core.store import Store
from simulator.talonone.models.achievements import (
    TalonAchievement,
    TalonAchievementContribution,
    TalonAchievementProgress,
)
from simulator.talonone.service import campaigns

PERIOD = re.compile(r"^(\d+)([smhDWMY])(_D|_U)?$")
TRACKERS = "talonone.achievement_progress"
EPSILON = 1e-9


# --- periods -----------------------------------------------------------------------------------


def add_period(start: datetime, period: str) -> datetime:
    """`30s`, `40m`, `1h`, `5D`, `7W`, `10M`, `15Y`; `_D` rounds the end down to the start of
    its day, `_U` up to the end of its day, week, month or year."""
    match = PERIOD.match(period)
    if match is None:
        raise ValueError(f"invalid period {period!r}")
    count, unit, rounding = int(match.group(1)), match.group(2), match.group(3)
    seconds = {"s": 1, "m": 60, "h": 3600, "D": 86400, "W": 604800}
    if unit in seconds:
        end = start + timedelta(seconds=count * seconds[unit])
    else:
        months = count * (12 if unit == "Y" else 1)
        year, month = divmod(start.month - 1 + months, 12)
        year += start.year
        end = start.replace(
            year=year, month=month + 1, day=min(start.day, monthrange(year, month + 1)[1])
        )
    day_start = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if rounding == "_D":
        return day_start
    if rounding == "_U":
        if unit == "W":
            day_start += timedelta(days=6 - day_start.weekday())
        elif unit == "M":
            day_start = day_start.replace(day=monthrange(end.year, end.month)[1])
        elif unit == "Y":
            day_start = day_start.replace(month=12, day=31)
        return day_start + timedelta(days=1) - timedelta(microseconds=1)
    return end


def tracker_end(achievement: TalonAchievement, start: datetime) -> datetime | None:
    ends = [add_period(start, achievement.period)] if achievement.period else []
    if achievement.end_date is not None:
        ends.append(achievement.end_date)
    return min(ends) if ends else None


# --- reads -------------------------------------------------------------------------------------


class AchievementFields(Protocol):
    """What an achievement's views read: a TalonAchievement, or a row of a prepared read (the
    achievement table's columns by name)."""

    id: int
    created: datetime
    name: str
    title: str
    description: str
    target: float
    recurrence_policy: str
    activation_policy: str
    allow_rollback_after_completion: bool
    campaign_id: int
    period: str | None
    fixed_start_date: datetime | None
    end_date: datetime | None


def achievement_status(achievement: AchievementFields, now: datetime) -> str | None:
    """active, scheduled, or None once it has ended."""
    if achievement.end_date is not None and achievement.end_date <= now:
        return None
    if achievement.fixed_start_date is not None and achievement.fixed_start_date > now:
        return "scheduled"
    return "active"


class TrackerFields(Protocol):
    """What a tracker's views read: a TalonAchievementProgress, or a row of the inventory's
    prepared read (the progress table's columns by name)."""

    progress: float
    start_date: datetime
    end_date: datetime | None
    completion_date: datetime | None


def tracker_status(tracker: TrackerFields, now: datetime) -> str:
    if tracker.completion_date is not None:
        return "completed"
    if tracker.end_date is not None and tracker.end_date <= now:
        return "expired"
    return "inprogress"


def progress_view(tracker: TrackerFields | None, now: datetime) -> dict[str, Any]:
    if tracker is None:
        return {"status": "not_started", "progress": 0}
    view: dict[str, Any] = {
        "status": tracker_status(tracker, now),
        "progress": number(tracker.progress),
        "startDate": format_instant(tracker.start_date),
    }
    if tracker.completion_date is not None:
        view["completionDate"] = format_instant(tracker.completion_date)
    if tracker.end_date is not None:
        view["endDate"] = format_instant(tracker.end_date)
    return view


def number(value: float) -> float | int:
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) else rounded


def definition_view(achievement: AchievementFields) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": achievement.id,
        "created": format_instant(achievement.created),
        "name": achievement.name,
        "title": achievement.title,
        "description": achievement.description,
        "target": number(achievement.target),
        "recurrencePolicy": achievement.recurrence_policy,
        "activationPolicy": achievement.activation_policy,
        "allowRollbackAfterCompletion": achievement.allow_rollback_after_completion,
        "campaignId": achievement.campaign_id,
    }
    if achievement.period:
        view["period"] = achievement.period
    if achievement.fixed_start_date is not None:
        view["fixedStartDate"] = format_instant(achievement.fixed_start_date)
    if achievement.end_date is not None:
        view["endDate"] = format_instant(achievement.end_date)
    return view


def latest_tracker(
    db: Store, tenant_id: str, achievement_id: int, profile_id: str
) -> TalonAchievementProgress | None:
    statement = (
        select(TalonAchievementProgress)
        .where(
            TalonAchievementProgress.tenant_id == tenant_id,
            TalonAchievementProgress.achievement_id == achievement_id,
            TalonAchievementProgress.profile_id == profile_id,
        )
        .order_by(TalonAchievementProgress.start_date.desc(), TalonAchievementProgress.id.desc())
        .limit(1)
    )
    return db.scalars(statement).first()


def tenant_achievements(db: Store, tenant_id: str) -> list[TalonAchievement]:
    statement = (
        select(TalonAchievement)
        .where(TalonAchievement.tenant_id == tenant_id)
        .order_by(TalonAchievement.id)
    )
    return list(db.scalars(statement))


def customer_achievements(
    db: Store | fastsql.Lease,
    tenant_id: str,
    now: datetime,
    profile_id: str,
    *,
    campaign_ids: set[int] | None = None,
    achievement_ids: set[int] | None = None,
    statuses: set[str] | None = None,
    progress_statuses: set[str] | None = None,
    skip: int = 0,
    page_size: int = 1000,
) -> dict[str, Any]:
    """The achievements available to the customer (active or scheduled) with its current
    progress (`not_started` before any), filtered, in id order, one page of them."""
    latest = latest_trackers(db, tenant_id, profile_id)
    found = []
    for achievement in fastsql.execute(db, TENANT_ACHIEVEMENTS, {"tenant": tenant_id}):
        status = achievement_status(achievement, now)
        if status is None or (statuses and status not in statuses):
            continue
        if campaign_ids and achievement.campaign_id not in campaign_ids:
            continue
        if achievement_ids and achievement.id not in achievement_ids:
            continue
        progress = progress_view(latest.get(achievement.id), now)
        if progress_statuses and progress["status"] not in progress_statuses:
            continue
        found.append(
            {**definition_view(achievement), "status": status, "currentProgress": progress}
        )
    return {"totalResultSize": len(found), "data": found[skip : skip + page_size]}


def achievement_history(
    db: Store | fastsql.Lease,
    tenant_id: str,
    now: datetime,
    profile_id: str,
    achievement_id: int,
    *,
    statuses: set[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    skip: int = 0,
    page_size: int = 1000,
) -> dict[str, Any] | None:
    """Every tracker of the customer in the achievement, newest first; None for an unknown
    achievement. `startDate`/`endDate` filter the trackers' start."""
    known = {"tenant": tenant_id, "achievement": achievement_id}
    if fastsql.execute(db, ACHIEVEMENT_EXISTS, known).first() is None:
        return None
    bounds = {name: value for name, value in (("start", start), ("end", end)) if value}
    parameters = {**known, "profile": profile_id, **bounds}
    trackers = fastsql.execute(db, history_statement(frozenset(bounds)), parameters)
    views = [progress_view(tracker, now) for tracker in trackers]
    if statuses:
        views = [view for view in views if view["status"] in statuses]
    return {"totalResultSize": len(views), "data": views[skip : skip + page_size]}


@functools.cache
def history_statement(bounds: frozenset[str]) -> fastsql.Prepared:
    """A customer's trackers in one achievement, newest first, their start at or after the
    bound `start` and at or before `end` where those are named."""
    statement = (
        select(TRACKER_TABLE)
        .where(
            TRACKER_TABLE.c.tenant_id == bindparam("tenant"),
            TRACKER_TABLE.c.achievement_id == bindparam("achievement"),
            TRACKER_TABLE.c.profile_id == bindparam("profile"),
        )
        .order_by(TRACKER_TABLE.c.start_date.desc(), TRACKER_TABLE.c.id.desc())
    )
    if "start" in bounds:
        statement = statement.where(TRACKER_TABLE.c.start_date >= bindparam("start"))
    if "end" in bounds:
        statement = statement.where(TRACKER_TABLE.c.start_date <= bindparam("end"))
    return fastsql.prepared(statement)


ACHIEVEMENT_TABLE = TalonAchievement.__table__
TRACKER_TABLE = TalonAchievementProgress.__table__
# Built once, run on the DBAPI cursor (core/fastsql): the inventory and GetCustomerAchievements
# read the tenant's achievements on their lease.
ACHIEVEMENT_EXISTS = fastsql.prepared(
    select(ACHIEVEMENT_TABLE.c.id).where(
        ACHIEVEMENT_TABLE.c.tenant_id == bindparam("tenant"),
        ACHIEVEMENT_TABLE.c.id == bindparam("achievement"),
    )
)
TENANT_ACHIEVEMENTS = fastsql.prepared(
    select(ACHIEVEMENT_TABLE)
    .where(ACHIEVEMENT_TABLE.c.tenant_id == bindparam("tenant"))
    .order_by(ACHIEVEMENT_TABLE.c.id)
)
# A customer's trackers on its index, each achievement's latest first (as `latest_tracker`):
# `latest_trackers`, for the inventory and GetCustomerAchievements.
PROFILE_TRACKERS = fastsql.prepared(
    select(TRACKER_TABLE)
    .where(
        TRACKER_TABLE.c.tenant_id == bindparam("tenant"),
        TRACKER_TABLE.c.profile_id == bindparam("profile"),
    )
    .order_by(
        TRACKER_TABLE.c.achievement_id, TRACKER_TABLE.c.start_date.desc(), TRACKER_TABLE.c.id.desc()
    )
)


def latest_trackers(
    db: Store | fastsql.Lease, tenant_id: str, profile_id: str
) -> dict[int, TrackerFields]:
    """The customer's latest tracker of each achievement it has started, by achievement id
    (`latest_tracker` of every achievement, in one read)."""
    parameters = {"tenant": tenant_id, "profile": profile_id}
    latest: dict[int, Any] = {}
    for tracker in fastsql.execute(db, PROFILE_TRACKERS, parameters):
        latest.setdefault(tracker.achievement_id, tracker)
    return latest


def inventory_achievements(
    db: fastsql.Lease, tenant_id: str, now: datetime, profile_id: str
) -> list[dict[str, Any]]:
    """The inventory's `achievements`: the customer's current progress in every achievement
    it has started."""
    latest = latest_trackers(db, tenant_id, profile_id)
    if not latest:
        return []
    found = []
    for achievement in fastsql.execute(db, TENANT_ACHIEVEMENTS, {"tenant": tenant_id}):
        tracker = latest.get(achievement.id)
        if tracker is None:
            continue
        entry = {
            **progress_view(tracker, now),
            "achievementId": achievement.id,
            "name": achievement.name,
            "title": achievement.title,
            "description": achievement.description,
            "campaignId": achievement.campaign_id,
            "target": number(achievement.target),
            "achievementRecurrencePolicy": achievement.recurrence_policy,
            "achievementActivationPolicy": achievement.activation_policy,
            "achievementAllowRollbackAfterCompletion": achievement.allow_rollback_after_completion,
        }
        if achievement.fixed_start_date is not None:
            entry["achievementFixedStartDate"] = format_instant(achievement.fixed_start_date)
        if achievement.end_date is not None:
            entry["achievementEndDate"] = format_instant(achievement.end_date)
        found.append(entry)
    return found


# --- writes ------------------------------------------------------------------------------------


def new_tracker(
    db: Store, tenant_id: str, achievement: TalonAchievement, profile_id: str, now: datetime
) -> TalonAchievementProgress:
    start = (
        achievement.fixed_start_date if achievement.activation_policy == "fixed_schedule" else now
    )
    start = start or now
    tracker = TalonAchievementProgress(
        tenant_id=tenant_id,
        id=next_value(db, tenant_id, TRACKERS),
        achievement_id=achievement.id,
        profile_id=profile_id,
        progress=0.0,
        start_date=start,
        end_date=tracker_end(achievement, start),
    )
    db.add(tracker)
    return tracker


def open_tracker(
    db: Store, tenant_id: str, achievement: TalonAchievement, profile_id: str, now: datetime
) -> TalonAchievementProgress | None:
    """The tracker an activity at `now` adds to, started if the policies allow; None if none."""
    tracker = latest_tracker(db, tenant_id, achievement.id, profile_id)
    if tracker is None:
        return new_tracker(db, tenant_id, achievement, profile_id, now)
    status = tracker_status(tracker, now)
    if status == "inprogress":
        return tracker
    period_over = tracker.end_date is not None and tracker.end_date <= now
    policy = achievement.recurrence_policy
    if (policy == "on_expiration" and period_over) or (
        policy == "on_completion" and (period_over or status == "completed")
    ):
        return new_tracker(db, tenant_id, achievement, profile_id, now)
    return None


def counts(achievement: TalonAchievement, event_type: str | None) -> bool:
    if achievement.activity == "event":
        return event_type is not None and event_type == achievement.event_type
    return event_type is None


def record_activity(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    profile_id: str | None,
    session_id: str,
    total: float = 0.0,
    event_type: str | None = None,
) -> list[dict[str, Any]]:
    """A session closed (event_type None) or a custom event arrived: progress for every
    achievement of a running campaign with the achievements feature it counts for; the
    `increaseAchievementProgress` effects."""
    if not profile_id:
        return []
    config = campaigns.load_config(db, tenant_id)
    running = {
        c["id"]: c
        for c in config.campaigns or []
        if "achievements" in c.get("features", []) and campaigns.is_running(c, now)
    }
    if not running:  # most closes: no query at all
        return []
    effects = []
    for achievement in tenant_achievements(db, tenant_id):
        if achievement.campaign_id not in running or achievement_status(achievement, now) != (
            "active"
        ):
            continue
        if not counts(achievement, event_type):
            continue
        delta = total if achievement.measure == "total" else 1.0
        if delta <= EPSILON:
            continue
        tracker = open_tracker(db, tenant_id, achievement, profile_id, now)
        if tracker is None:
            continue
        tracker.progress += delta
        just_completed = tracker.progress >= achievement.target - EPSILON
        if just_completed:
            tracker.completion_date = now
        db.add(tracker)
        db.add(
            TalonAchievementContribution(
                tenant_id=tenant_id, progress_id=tracker.id, session_id=session_id, delta=delta
            )
        )
        campaign = running[achievement.campaign_id]
        effects.append(
            {
                "campaignId": campaign["id"],
                "rulesetId": campaign.get("rulesetId", campaign["id"]),
                "ruleIndex": 0,
                "ruleName": achievement.title,
                "effectType": "increaseAchievementProgress",
                "props": {
                    "achievementId": achievement.id,
                    "achievementName": achievement.name,
                    "progressTrackerId": tracker.id,
                    "delta": number(delta),
                    "value": number(tracker.progress),
                    "target": number(achievement.target),
                    "isJustCompleted": just_completed,
                },
            }
        )
    db.flush()
    return effects


def roll_back_session(db: Store, tenant_id: str, session_id: str) -> list[dict[str, Any]]:
    """A closed session cancelled or reopened: what it added is taken back (from a completed
    tracker only with `allowRollbackAfterCompletion`); the rollback effects."""
    contributions = list(
        db.scalars(
            select(TalonAchievementContribution).where(
                TalonAchievementContribution.tenant_id == tenant_id,
                TalonAchievementContribution.session_id == session_id,
            )
        )
    )
    effects = []
    for contribution in contributions:
        tracker = db.get(TalonAchievementProgress, (tenant_id, contribution.progress_id))
        achievement = (
            db.get(TalonAchievement, (tenant_id, tracker.achievement_id)) if tracker else None
        )
        if tracker is None or achievement is None:
            continue
        if tracker.completion_date is not None and not achievement.allow_rollback_after_completion:
            continue
        tracker.progress = max(tracker.progress - contribution.delta, 0.0)
        if tracker.progress < achievement.target - EPSILON:
            tracker.completion_date = None
        db.add(tracker)
        db.delete(contribution)
        effects.append(
            {
                "campaignId": achievement.campaign_id,
                "rulesetId": achievement.campaign_id,
                "ruleIndex": 0,
                "ruleName": achievement.title,
                "effectType": "rollbackIncreasedAchievementProgress",
                "props": {
                    "achievementId": achievement.id,
                    "achievementName": achievement.name,
                    "progressTrackerId": tracker.id,
                    "decreaseProgressBy": number(contribution.delta),
                    "currentProgress": number(tracker.progress),
                    "target": number(achievement.target),
                },
            }
        )
    db.flush()
    return effects


def on_session_change(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    session_id: str,
    profile_id: str | None,
    previous_state: str | None,
    state: str,
    total: float,
    dry: bool,
) -> list[dict[str, Any]]:
    """What the session engine calls next to the loyalty part: a close counts, a cancel or
    reopen of a closed session takes back."""
    if dry:
        return []
    posted = previous_state in ("closed", "partially_returned")
    if state == "closed" and not posted:
        return record_activity(
            db, tenant_id, now, profile_id=profile_id, session_id=session_id, total=total
        )
    if state in ("open", "cancelled") and posted:
        return roll_back_session(db, tenant_id, session_id)
    return []


def delete_profile_progress(db: Store, tenant_id: str, profile_id: str) -> None:
    trackers = select(TalonAchievementProgress.id).where(
        TalonAchievementProgress.tenant_id == tenant_id,
        TalonAchievementProgress.profile_id == profile_id,
    )
    db.execute(
        delete(TalonAchievementContribution).where(
            TalonAchievementContribution.tenant_id == tenant_id,
            TalonAchievementContribution.progress_id.in_(trackers),
        )
    )
    db.execute(
        delete(TalonAchievementProgress).where(
            TalonAchievementProgress.tenant_id == tenant_id,
            TalonAchievementProgress.profile_id == profile_id,
        )
    )
