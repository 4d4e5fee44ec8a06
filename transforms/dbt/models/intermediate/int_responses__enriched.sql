-- One row per response with its attempt, exam, class and time on task.
-- Time on task of a response = time since the previous response of the attempt (or since the
-- attempt started), capped at var('time_on_task_cap_seconds') so idle gaps do not count.
with responses as (
    select * from {{ ref('stg_exams__responses') }}
),

attempts as (
    select * from {{ ref('stg_exams__attempts') }}
),

exams as (
    select exam_id, class_id, owner_key, is_adaptive from {{ ref('stg_exams__exams') }}
),

joined as (
    select
        responses.attempt_id,
        responses.item_id,
        attempts.exam_id,
        attempts.student_key,
        exams.class_id,
        exams.owner_key as exam_owner_key,
        exams.is_adaptive,
        responses.is_correct,
        responses.is_pilot,
        attempts.is_completed as is_attempt_completed,
        attempts.raw_score as attempt_raw_score,
        attempts.started_at as attempt_started_at,
        responses.answered_at,
        lag(responses.answered_at) over (
            partition by responses.attempt_id
            order by responses.answered_at, responses.item_id
        ) as previous_answered_at
    from responses
    inner join attempts on responses.attempt_id = attempts.attempt_id
    inner join exams on attempts.exam_id = exams.exam_id
),

final as (
    select
        attempt_id,
        item_id,
        exam_id,
        student_key,
        class_id,
        exam_owner_key,
        is_adaptive,
        is_correct,
        is_pilot,
        is_attempt_completed,
        attempt_raw_score,
        answered_at,
        (answered_at at time zone 'UTC')::date as answered_on,
        least(
            greatest(
                extract(epoch from answered_at - coalesce(previous_answered_at, attempt_started_at)),
                0
            ),
            {{ var('time_on_task_cap_seconds') }}
        )::numeric(10, 3) as seconds_on_task
    from joined
)

select * from final
