with source as (
    select * from {{ source('learning', 'lessons') }}
),

renamed as (
    select
        lesson_id,
        unit_id,
        course_id,
        owner_id,
        title as lesson_title,
        body as lesson_body,
        version,
        published_version,
        published_version is not null as is_published,
        created_at
    from source
)

select * from renamed
