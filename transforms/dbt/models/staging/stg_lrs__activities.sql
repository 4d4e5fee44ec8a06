-- Activity definitions the LRS saw (lrs.activities; no personal data), with the skill tags an
-- activity declares in its definition's extension urn:dreamseed:skills (a JSON array of strings).
with source as (
    select * from {{ source('lrs', 'activities') }}
),

renamed as (
    select
        activity_id,
        definition ->> 'type' as activity_type,
        coalesce(definition -> 'name' ->> 'en-US', definition -> 'name' ->> 'en') as activity_name,
        case
            when jsonb_typeof(definition -> 'extensions' -> 'urn:dreamseed:skills') = 'array'
                then array(
                    select jsonb_array_elements_text(definition -> 'extensions' -> 'urn:dreamseed:skills')
                )
            else '{}'::text[]
        end as declared_skills,
        updated_at
    from source
)

select * from renamed
