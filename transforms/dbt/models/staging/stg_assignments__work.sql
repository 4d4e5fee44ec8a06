with source as (
    select * from {{ source('assignments', 'work') }}
),

renamed as (
    select
        assignment_id,
        student_id,
        state as work_state,
        state in ('submitted', 'graded', 'returned') as is_handed_in,
        state in ('graded', 'returned') as is_graded,
        state = 'returned' as is_returned,
        version as submission_count,
        submitted_at,
        is_late,
        flagged as is_flagged,
        points_awarded,
        graded_at,
        returned_at
    from source
)

select * from renamed
