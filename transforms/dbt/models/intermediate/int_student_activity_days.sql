-- One row per (student, class, UTC day) on which the student started an attempt or answered.
with responses as (
    select * from {{ ref('int_responses__enriched') }}
),

attempts as (
    select * from {{ ref('stg_exams__attempts') }}
),

exams as (
    select exam_id, class_id from {{ ref('stg_exams__exams') }}
),

answering as (
    select
        student_key,
        class_id,
        answered_on as activity_on,
        count(*) as response_count,
        sum(seconds_on_task) as seconds_on_task
    from responses
    group by student_key, class_id, answered_on
),

starting as (
    select
        attempts.student_key,
        exams.class_id,
        (attempts.started_at at time zone 'UTC')::date as activity_on,
        count(*) as attempts_started
    from attempts
    inner join exams on attempts.exam_id = exams.exam_id
    group by 1, 2, 3
),

completing as (
    select
        attempts.student_key,
        exams.class_id,
        (attempts.completed_at at time zone 'UTC')::date as activity_on,
        count(*) as attempts_completed
    from attempts
    inner join exams on attempts.exam_id = exams.exam_id
    where attempts.is_completed
    group by 1, 2, 3
),

days as (
    select student_key, class_id, activity_on from answering
    union
    select student_key, class_id, activity_on from starting
    union
    select student_key, class_id, activity_on from completing
),

final as (
    select
        days.student_key,
        days.class_id,
        days.activity_on,
        coalesce(answering.response_count, 0) as response_count,
        coalesce(starting.attempts_started, 0) as attempts_started,
        coalesce(completing.attempts_completed, 0) as attempts_completed,
        coalesce(answering.seconds_on_task, 0) as seconds_on_task
    from days
    left join answering
        on days.student_key = answering.student_key
        and days.class_id is not distinct from answering.class_id
        and days.activity_on = answering.activity_on
    left join starting
        on days.student_key = starting.student_key
        and days.class_id is not distinct from starting.class_id
        and days.activity_on = starting.activity_on
    left join completing
        on days.student_key = completing.student_key
        and days.class_id is not distinct from completing.class_id
        and days.activity_on = completing.activity_on
)

select * from final
