-- One row per exam: participation, score distribution, duration and (fixed forms) KR-20.
with exams as (
    select * from {{ ref('stg_exams__exams') }}
),

attempts as (
    select * from {{ ref('stg_exams__attempts') }}
),

completed as (
    select * from {{ ref('fct_exam_attempts') }}
),

item_stats as (
    select * from {{ ref('agg_item_statistics') }}
),

started as (
    select
        exam_id,
        count(*) as attempts_started,
        count(distinct student_key) as students_started,
        min(started_at) as first_started_at
    from attempts
    group by exam_id
),

scores as (
    select
        exam_id,
        count(*) as attempts_completed,
        count(distinct student_key) as students_completed,
        avg(score_pct) as mean_score_pct,
        stddev_samp(score_pct) as stddev_score_pct,
        percentile_cont(0.5) within group (order by score_pct) as median_score_pct,
        min(score_pct) as min_score_pct,
        max(score_pct) as max_score_pct,
        avg(duration_seconds) as mean_duration_seconds,
        var_pop(raw_score) as raw_score_variance,
        max(completed_at) as last_completed_at
    from completed
    group by exam_id
),

-- KR-20 = k/(k-1) * (1 - sum p(1-p) / var(total)) for fixed forms (every item to everyone).
item_variance as (
    select
        exam_id,
        count(*) as items_answered,
        sum(facility * (1 - facility)) as sum_item_variance
    from item_stats
    where not is_adaptive and not is_pilot
    group by exam_id
),

final as (
    select
        exams.exam_id,
        exams.class_id,
        exams.owner_key,
        exams.exam_title,
        exams.exam_kind,
        exams.is_adaptive,
        exams.item_count,
        coalesce(started.attempts_started, 0) as attempts_started,
        coalesce(scores.attempts_completed, 0) as attempts_completed,
        coalesce(started.students_started, 0) as students_started,
        coalesce(scores.students_completed, 0) as students_completed,
        round(
            scores.attempts_completed::numeric / nullif(started.attempts_started, 0), 4
        ) as completion_rate,
        round(scores.mean_score_pct, 4) as mean_score_pct,
        round(scores.stddev_score_pct, 4) as stddev_score_pct,
        round(scores.median_score_pct::numeric, 4) as median_score_pct,
        scores.min_score_pct,
        scores.max_score_pct,
        round(scores.mean_duration_seconds, 1) as mean_duration_seconds,
        case
            when not exams.is_adaptive
                and item_variance.items_answered > 1
                and scores.attempts_completed > 1
                and scores.raw_score_variance > 0
                then round(
                    (item_variance.items_answered::numeric / (item_variance.items_answered - 1))
                    * (1 - item_variance.sum_item_variance / scores.raw_score_variance),
                    4
                )
        end as kr20_reliability,
        exams.created_at,
        started.first_started_at,
        scores.last_completed_at
    from exams
    left join started on exams.exam_id = started.exam_id
    left join scores on exams.exam_id = scores.exam_id
    left join item_variance on exams.exam_id = item_variance.exam_id
)

select * from final
