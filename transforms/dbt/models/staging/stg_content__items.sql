-- The item bank without stems, options or answer keys (those stay in the OLTP schema).
with source as (
    select * from {{ source('content', 'items') }}
),

renamed as (
    select
        item_id,
        owner_id,
        version as item_version,
        status as item_status,
        status = 'pilot' as is_pilot,
        status = 'operational' as is_operational,
        scoring as item_scoring,
        jsonb_array_length(options) as option_count,
        skills,
        created_at,
        updated_at
    from source
)

select * from renamed
