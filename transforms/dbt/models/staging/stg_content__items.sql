-- The item bank from the lake, one row per item in its current state, folded from its
-- content.item.created / updated events (lake_silver.item_events; never stems, options or keys).
-- Each field is the latest value any event recorded (events before migration 0031 carry no
-- scoring or option count, and a created event then no version: its version was 1). The owner is
-- her pseudonymous key. Items created before the outbox recorded them come from the latest daily
-- snapshot lake_silver.dim_items_snapshots. Rows whose item id is not a UUID are left out.
with events as (
    select
        {{ lake_uuid('item_id') }} as item_id,
        event_type like 'content.item.created.%' as is_creation,
        owner_key,
        case
            when event_type like 'content.item.created.%' then coalesce(version, 1)
            else version
        end as version,
        status,
        scoring,
        option_count,
        skills,
        created_at,
        updated_at,
        occurred_at,
        event_seq
    from {{ source('lake_silver', 'item_events') }}
    where event_type like 'content.item.created.%' or event_type like 'content.item.updated.%'
),

folded as (
    select
        item_id,
        {{ latest_value('owner_key') }} as owner_key,
        {{ latest_value('version') }} as version,
        {{ latest_value('status') }} as status,
        {{ latest_value('scoring') }} as scoring,
        {{ latest_value('option_count') }} as option_count,
        coalesce(min(created_at) filter (where is_creation), min(occurred_at)) as created_at,
        max(updated_at) as updated_at
    from events
    where item_id is not null
    group by item_id
),

latest_skills as (
    select distinct on (item_id) item_id, skills
    from events
    where item_id is not null and skills is not null
    order by item_id, occurred_at desc, event_seq desc nulls last
),

snapshot as (
    select
        {{ lake_uuid('item_id') }} as item_id,
        owner_key,
        version::bigint as version,
        status,
        scoring,
        null::bigint as option_count,
        skills,
        created_at,
        updated_at
    from {{ source('lake_silver', 'dim_items_snapshots') }}
    where snapshot_date = (
        select max(snapshot_date) from {{ source('lake_silver', 'dim_items_snapshots') }}
    )
),

items as (
    -- an item whose events leave a field unknown takes it from the latest snapshot, if any
    select
        f.item_id,
        coalesce(f.owner_key, s.owner_key) as owner_key,
        coalesce(f.version, s.version) as version,
        coalesce(f.status, s.status) as status,
        coalesce(f.scoring, s.scoring) as scoring,
        f.option_count,
        coalesce(k.skills, s.skills) as skills,
        f.created_at,
        coalesce(f.updated_at, s.updated_at, f.created_at) as updated_at
    from folded as f
    left join latest_skills as k on k.item_id = f.item_id
    left join snapshot as s on s.item_id = f.item_id
    union all
    select s.* from snapshot as s
    where s.item_id is not null and not exists (
        select 1 from folded as f where f.item_id = s.item_id
    )
),

renamed as (
    select
        item_id,
        owner_key,
        version::integer as item_version,
        status as item_status,
        status = 'pilot' as is_pilot,
        status = 'operational' as is_operational,
        scoring as item_scoring,
        option_count::integer as option_count,
        skills,
        created_at,
        updated_at
    from items
)

select * from renamed
