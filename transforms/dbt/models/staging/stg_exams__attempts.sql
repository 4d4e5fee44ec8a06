with source as (
    select * from {{ source('exams', 'attempts') }}
),

renamed as (
    select
        attempt_id,
        exam_id,
        student_id,
        status as attempt_status,
        status = 'completed' as is_completed,
        raw_score,
        max_score,
        theta,
        se as theta_se,
        person_fit_lz,
        is_person_misfit,
        person_fit_reason,
        started_at,
        completed_at
    from source
)

select * from renamed
