-- Answered items from the lake (lake_silver.responses: silver `responses`, copied by
-- lake/warehouse.py), one row per exams.response.recorded event. The fields the contract gained in
-- issue 18 (position, item_version, score, pilot) are null for events recorded before it: the
-- score then falls back to correctness (keyed items) and pilot to false. Rows whose ids are not
-- UUIDs are not the platform's and are left out.
with source as (
    select * from {{ source('lake_silver', 'responses') }}
),

renamed as (
    select
        {{ lake_uuid('attempt_id') }} as attempt_id,
        {{ lake_uuid('item_id') }} as item_id,
        item_version::integer as item_version,
        position::integer as response_position,
        choice::integer as choice,
        is_correct,
        coalesce(score, is_correct::integer)::integer as response_score,
        coalesce(pilot, false) as is_pilot,
        answered_at,
        event_id as lake_event_id
    from source
)

select * from renamed
where attempt_id is not null and item_id is not null
