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
        ("fct_exam_attempts",),
        ("fct_student_skill_mastery",),
        ("agg_assignment_completion",),
        ("agg_class_performance",),
        ("agg_exam_summaries",),
    ),
    "item_bank_health": (
        ("agg_item_statistics",),
        ("agg_item_dif_flags",),
        ("agg_exam_summaries",),
    ),
    "usage": (
        ("agg_engagement_daily",),
        ("agg_engagement_weekly",),
        ("agg_content_engagement",),
        ("agg_tutor_usage",),
        ("agg_tutor_topics",),
    ),
    "platform_health": (("outbox_events",), ("policy_decisions",)),
    "policy_audit": (("policy_decisions",),),
}

PAGE_DESCRIPTIONS: dict[str, str] = {
    "attempts_per_day": "Completed attempts and mean score per day and class.",
    "class_report": "Teacher's class report: results, skill mastery, assignments, exams.",
    "item_bank_health": "Item statistics, IRT parameters and DIF flags of the item bank.",
    "usage": "Active students, responses, minutes, lessons and tutor sessions by class.",
    "platform_health": "Ingest and mart freshness (lake snapshots and their PostgreSQL copies).",
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
