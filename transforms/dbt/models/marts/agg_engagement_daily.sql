-- Daily engagement per class: active students, responses, attempts and time on task.
with activity as (
    select * from {{ ref('int_student_activity_days') }}
),

final as (
    select
        activity_on,
        class_id,
        count(distinct student_key) as active_students,
        sum(response_count) as response_count,
        sum(attempts_started) as attempts_started,
        sum(attempts_completed) as attempts_completed,
        round(sum(seconds_on_task) / 60.0, 2) as minutes_on_task,
        round(sum(seconds_on_task) / 60.0 / count(distinct student_key), 2)
            as minutes_on_task_per_student
    from activity
    group by activity_on, class_id
)

select * from final
