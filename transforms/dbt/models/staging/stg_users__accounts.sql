-- Users without PII: e-mail, display name and password hash stay in the OLTP schema.
with source as (
    select * from {{ source('users', 'accounts') }}
),

renamed as (
    select
        user_id,
        role as user_role,
        role = 'student' as is_student,
        role = 'teacher' as is_teacher,
        created_at
    from source
)

select * from renamed
