-- Weekly engagement per class (ISO weeks starting Monday, UTC). Weekly active students are
-- counted over the week, not summed over days.
with activity as (
    select
        *,
        date_trunc('week', activity_on)::date as week_start
    from {{ ref('int_student_activity_days') }}
),

per_student as (
    select
        week_start,
        class_id,
        student_key,
        count(*) as active_days
    from activity
    group by week_start, class_id, student_key
),

students as (
    select
        week_start,
        class_id,
        count(*) as active_students,
        avg(active_days) as mean_active_days
    from per_student
    group by week_start, class_id
),

totals as (
    select
        week_start,
        class_id,
        sum(response_count) as response_count,
        sum(attempts_started) as attempts_started,
        sum(attempts_completed) as attempts_completed,
        sum(seconds_on_task) as seconds_on_task
    from activity
    group by week_start, class_id
),

final as (
    select
        students.week_start,
        students.class_id,
        students.active_students,
        round(students.mean_active_days, 2) as mean_active_days,
        totals.response_count,
        totals.attempts_started,
        totals.attempts_completed,
        round(totals.seconds_on_task / 60.0, 2) as minutes_on_task,
        round(totals.seconds_on_task / 60.0 / students.active_students, 2)
            as minutes_on_task_per_student
    from students
    inner join totals
        on students.week_start = totals.week_start
        and students.class_id is not distinct from totals.class_id
)

select * from final
