-- IRT parameter versions from the lake (lake_silver.item_events: silver `item_events`, copied by
-- lake/warehouse.py), one row per param_id from its content.item_parameters.added event (the
-- calibration's a, b, c and its provenance: response snapshot, responses used, role, SEs, S-X2
-- fit). is_live: the version is its item's latest promoted one (content.item_parameters.promoted,
-- latest by occurred_at then event_seq); promoted_at: its latest promotion. Versions added before
-- the provenance fields existed (migration 0032) have them null. Ids are cast to uuid
-- (lake_uuid; rows whose ids are not UUIDs are left out); a promotion without its added event
-- (recorded before the outbox) has no row.
with events as (
    select
        {{ lake_uuid('param_id') }} as param_id,
        {{ lake_uuid('item_id') }} as item_id,
        event_type like 'content.item_parameters.added.%' as is_added,
        event_type like 'content.item_parameters.promoted.%' as is_promotion,
        version,
        calibration_id,
        model,
        a,
        b,
        c,
        source_snapshot_id,
        n_responses,
        role,
        se_a,
        se_b,
        sx2,
        sx2_df,
        sx2_p,
        created_at,
        coalesce(promoted_at, occurred_at) as promoted_at,
        occurred_at,
        event_seq
    from {{ source('lake_silver', 'item_events') }}
    where event_type like 'content.item_parameters.%'
),

added as (
    select distinct on (param_id) *
    from events
    where is_added and param_id is not null and item_id is not null
    order by param_id, occurred_at, event_seq nulls last
),

promotions as (
    select param_id, item_id, promoted_at, occurred_at, event_seq
    from events
    where is_promotion and param_id is not null and item_id is not null
),

live as (
    select distinct on (item_id) item_id, param_id
    from promotions
    order by item_id, occurred_at desc, event_seq desc nulls last
),

promoted as (
    select param_id, max(promoted_at) as promoted_at
    from promotions
    group by param_id
),

renamed as (
    select
        added.param_id,
        added.item_id,
        added.version::integer as param_version,
        added.calibration_id,
        added.model as irt_model,
        added.a,
        added.b[1] as b,
        added.c,
        cardinality(added.b) as threshold_count,
        added.source_snapshot_id,
        added.n_responses::integer as calibration_response_count,
        added.role as calibration_role,
        added.se_a,
        added.se_b,
        added.sx2,
        added.sx2_df,
        added.sx2_p,
        live.param_id is not null as is_live,
        added.created_at,
        promoted.promoted_at
    from added
    left join live on live.param_id = added.param_id and live.item_id = added.item_id
    left join promoted on promoted.param_id = added.param_id
)

select * from renamed
