with source as (
    select * from {{ source('classes', 'classes') }}
),

renamed as (
    select
        class_id,
        teacher_id,
        name as class_name,
        created_at
    from source
)

select * from renamed
