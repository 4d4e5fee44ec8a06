-- One row per completed attempt, with the class it counts for and its score.
with attempts as (
    select * from {{ ref('stg_exams__attempts') }}
    where is_completed
),

exams as (
    select exam_id, class_id from {{ ref('stg_exams__exams') }}
),

responses as (
    select attempt_id, count(*) as response_count
    from {{ ref('stg_exams__responses') }}
    group by attempt_id
),

final as (
    select
        attempts.attempt_id,
        attempts.exam_id,
        attempts.student_key,
        exams.class_id,
        attempts.raw_score,
        attempts.max_score,
        case
            when attempts.max_score > 0
                then round(attempts.raw_score::numeric / attempts.max_score, 4)
        end as score_pct,
        coalesce(responses.response_count, 0) as response_count,
        attempts.person_fit_lz,
        attempts.is_person_misfit,
        attempts.person_fit_reason,
        extract(epoch from attempts.completed_at - attempts.started_at)::numeric(12, 3)
            as duration_seconds,
        attempts.started_at,
        attempts.completed_at,
        (attempts.completed_at at time zone 'UTC')::date as completed_on
    from attempts
    inner join exams on attempts.exam_id = exams.exam_id
    left join responses on attempts.attempt_id = responses.attempt_id
)

select * from final
