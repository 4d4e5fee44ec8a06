with source as (
    select * from {{ source('exams', 'exams') }}
),

renamed as (
    select
        exam_id,
        owner_id,
        class_id,
        title as exam_title,
        kind as exam_kind,
        kind = 'adaptive' as is_adaptive,
        cardinality(item_ids) as item_count,
        (config -> 'exposure' ->> 'max_rate')::numeric as exposure_max_rate,
        created_at
    from source
)

select * from renamed
