"""Response bodies of the analytics service."""

from __future__ import annotations

from datetime import datetime

import msgspec


class SkillMastery(msgspec.Struct):
    """One skill of one student in one class (the exam's; null: an exam of no class), defined as
    the dbt mart `fct_student_skill_mastery` defines it."""

    skill: str
    class_id: str | None
    response_count: int
    correct_count: int
    pct_correct: float
    mastery_estimate: float  # (correct + 1) / (responses + 2)
    is_mastered: bool
    last_answered_at: datetime


class ThetaPoint(msgspec.Struct):
    """Her ability estimate after one scored attempt."""

    attempt_id: str
    exam_id: str
    class_id: str | None
    theta: float
    se: float
    at: datetime


class ClassStanding(msgspec.Struct):
    class_id: str
    attempts_completed: int
    mean_score_pct: float | None
    latest_theta: float | None
    latest_se: float | None
    works_returned: int


class StudentProgress(msgspec.Struct):
    student_id: str
    skills: list[SkillMastery]
    theta_history: list[ThetaPoint]  # oldest first, the last 100
    classes: list[ClassStanding]


class StudentRow(msgspec.Struct):
    student_id: str
    attempts_completed: int
    mean_score_pct: float | None
    latest_theta: float | None
    skills_assessed: int
    skills_mastered: int
    works_returned: int


class SkillSummary(msgspec.Struct):
    skill: str
    students: int
    mean_mastery: float
    students_mastered: int


class ClassProgress(msgspec.Struct):
    """A class's running summary (the figures of `agg_class_performance`, kept live)."""

    class_id: str
    enrolled_students: int
    active_students: int  # with a completed attempt
    attempts_completed: int
    mean_score_pct: float | None
    theta_students: int
    mean_theta: float | None  # of each student's latest estimate
    works_returned: int
    mean_points: float | None
    last_event_at: datetime | None
    students: list[StudentRow]
    skills: list[SkillSummary]


class OnlineUser(msgspec.Struct):
    user_id: str
    last_seen: datetime


class ClassPresence(msgspec.Struct):
    """Who of the class has a notification stream open (seen within `ttl_seconds`)."""

    class_id: str
    online: int
    ttl_seconds: float
    users: list[OnlineUser]
