-- Students' work on assignments from the lake (lake_silver.submissions: assignments.work.started /
-- submitted / graded / returned events), one row per event, student as pseudonymous key. Read
-- by agg_student_risk for the last hand-in per (class, student). Rows whose ids are not UUIDs are
-- left out.
with source as (
    select * from {{ source('lake_silver', 'submissions') }}
),

renamed as (
    select
        event_id as lake_event_id,
        {{ lake_uuid('assignment_id') }} as assignment_id,
        {{ lake_uuid('class_id') }} as class_id,
        student_key,
        state as work_state,
        state in ('submitted', 'graded', 'returned') as is_handed_in,
        event_type like 'assignments.work.submitted.%' as is_submission,
        is_late,
        flagged as is_flagged,
        points_awarded,
        changed_at
    from source
)

select * from renamed
where assignment_id is not null and class_id is not null and student_key is not null
