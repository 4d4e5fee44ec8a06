with source as (
    select * from {{ source('classes', 'memberships') }}
),

renamed as (
    select
        class_id,
        student_id,
        joined_at
    from source
)

select * from renamed
