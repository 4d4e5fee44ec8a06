"""The dashboard pages as assets (kind `shiny`) downstream of the marts they read, so Dagster's
lineage runs outbox -> bronze -> silver -> lake_silver copies -> dbt marts -> dashboards.

Dagster does not materialize them (the pages query the marts live); they are external specs that
show what each page depends on. A page's entry names the marts (dbt models) or lake assets its
queries read; keep it in step with the page's module in dashboards/pages/.
"""

import dagster as dg

DASHBOARD_GROUP = "dashboards"

# page (governance/data/dashboards.json) -> the asset keys its queries read
PAGE_SOURCES: dict[str, tuple[tuple[str, ...], ...]] = {
    "attempts_per_day": (("agg_attempts_per_day",),),
    "class_report": (
        ("agg_student_risk",),
        ("fct_student_ability",),
        ("fct_student_skill_mastery",),
        ("fct_exam_attempts",),
        ("agg_assignment_completion",),
    ),
    "item_bank_health": (
        ("agg_item_bank_health",),
        ("agg_item_calibration_history",),
        ("agg_item_distractors",),
        ("agg_exam_summaries",),  # the exam filter's choices
    ),
    "student_report": (
        ("fct_student_ability",),
        ("fct_student_skill_mastery",),
        ("agg_lesson_skills",),
    ),
    "usage": (
        ("agg_engagement_daily",),
        ("agg_engagement_weekly",),
        ("agg_content_engagement",),
        ("agg_tutor_usage",),
    ),
    # These two read governance.decisions (OLTP), which the lake ships as policy_decisions;
    # platform health also shows how fresh the lake's ingest is.
    "platform_health": (("outbox_events",), ("policy_decisions",)),
    "policy_audit": (("policy_decisions",),),
}

PAGE_DESCRIPTIONS: dict[str, str] = {
    "attempts_per_day": "Completed attempts and mean score per day and class.",
    "class_report": "Teacher's class report: ability, risk flags, skill mastery, assignments.",
    "item_bank_health": "Item statistics, IRT parameters, distractors and calibration history.",
    "student_report": "A student's ability over time, skill profile and lessons for weak skills.",
    "usage": "Active students, responses, minutes, lessons and tutor sessions by class.",
    "platform_health": "Ingest freshness, checks, lag, request and error rates.",
    "policy_audit": "Policy decisions: search and denial trends.",
}


def dashboard_specs() -> list[dg.AssetSpec]:
    """One AssetSpec per page, in group `dashboards`, depending on what the page reads."""
    return [
        dg.AssetSpec(
            [DASHBOARD_GROUP, page],
            group_name=DASHBOARD_GROUP,
            kinds={"shiny"},
            deps=[dg.AssetKey(list(key)) for key in sources],
            description=PAGE_DESCRIPTIONS[page],
            metadata={"page_path": f"/pages/{page}/"},
        )
        for page, sources in PAGE_SOURCES.items()
    ]
