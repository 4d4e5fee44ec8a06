with source as (
    select * from {{ source('assignments', 'assignments') }}
),

renamed as (
    select
        assignment_id,
        owner_id,
        class_id,
        kind as assignment_kind,
        exam_id,
        lesson_id,
        open_at,
        due_at,
        late_policy,
        points,
        student_ids,
        student_ids is not null as is_targeted,
        created_at
    from source
)

select * from renamed
