-- Current class memberships from the lake, by pseudonymous student key: the latest
-- classes.membership.joined / removed event per (class, student) in lake_silver.class_events
-- (a student who left is not a member; one who came back is, since her latest join). Pairs with
-- no membership event at all (joined before the outbox recorded them) come from the latest daily
-- snapshot lake_silver.dim_memberships_snapshots. Rows whose class id is not a UUID are left out.
with events as (
    select
        {{ lake_uuid('class_id') }} as class_id,
        student_key,
        event_type like 'classes.membership.joined.%' as is_join,
        coalesce(joined_at, occurred_at) as joined_at,
        occurred_at,
        event_seq
    from {{ source('lake_silver', 'class_events') }}
    where event_type like 'classes.membership.%' and student_key is not null
),

latest_event as (
    select distinct on (class_id, student_key)
        class_id,
        student_key,
        is_join,
        joined_at
    from events
    where class_id is not null
    order by class_id, student_key, occurred_at desc, event_seq desc nulls last
),

snapshot as (
    select
        {{ lake_uuid('class_id') }} as class_id,
        student_key,
        joined_at
    from {{ source('lake_silver', 'dim_memberships_snapshots') }}
    where snapshot_date = (
        select max(snapshot_date) from {{ source('lake_silver', 'dim_memberships_snapshots') }}
    )
),

final as (
    select class_id, student_key, joined_at from latest_event where is_join
    union all
    select s.class_id, s.student_key, s.joined_at
    from snapshot as s
    where s.class_id is not null and s.joined_at is not null and not exists (
        select 1 from events as e
        where e.class_id = s.class_id and e.student_key = s.student_key
    )
)

select * from final
