with source as (
    select * from {{ source('exams', 'responses') }}
),

renamed as (
    select
        attempt_id,
        item_id,
        item_version,
        position as response_position,
        choice,
        is_correct,
        score as response_score,
        pilot as is_pilot,
        answered_at
    from source
)

select * from renamed
