-- One row per completed attempt that has an IRT ability estimate: θ with its standard error and
-- 95 % interval (θ ± 1.96 SE), numbered per (student, class) in completion order.
with attempts as (
    select * from {{ ref('stg_exams__attempts') }}
    where is_completed and theta is not null
),

exams as (
    select exam_id, class_id, exam_title from {{ ref('stg_exams__exams') }}
),

final as (
    select
        attempts.attempt_id,
        attempts.exam_id,
        exams.exam_title,
        exams.class_id,
        attempts.student_key,
        attempts.theta,
        attempts.theta_se,
        attempts.theta - 1.96 * attempts.theta_se as theta_lower_95,
        attempts.theta + 1.96 * attempts.theta_se as theta_upper_95,
        attempts.completed_at,
        (attempts.completed_at at time zone 'UTC')::date as completed_on,
        row_number() over (
            partition by attempts.student_key, exams.class_id
            order by attempts.completed_at, attempts.attempt_id
        ) as attempt_ordinal
    from attempts
    inner join exams on attempts.exam_id = exams.exam_id
)

select * from final
