-- Classes from the lake, one row per class, folded from its classes.class.created / updated
-- events (lake_silver.class_events): the teacher as her pseudonymous key, the latest name an
-- event recorded (events before migration 0031 carry none), archived as of the latest update.
-- Classes created before the outbox recorded them, and names no event carries, come from the
-- latest daily snapshot lake_silver.dim_classes_snapshots. Join codes never reach the lake.
with events as (
    select
        {{ lake_uuid('class_id') }} as class_id,
        event_type like 'classes.class.created.%' as is_creation,
        teacher_key,
        name,
        archived,
        created_at,
        occurred_at,
        event_seq
    from {{ source('lake_silver', 'class_events') }}
    where event_type like 'classes.class.created.%' or event_type like 'classes.class.updated.%'
),

folded as (
    select
        class_id,
        {{ latest_value('teacher_key') }} as teacher_key,
        {{ latest_value('name') }} as name,
        coalesce({{ latest_value('archived') }}, false) as is_archived,
        coalesce(min(created_at) filter (where is_creation), min(occurred_at)) as created_at
    from events
    where class_id is not null
    group by class_id
),

snapshot as (
    select
        {{ lake_uuid('class_id') }} as class_id,
        teacher_key,
        name,
        false as is_archived,
        created_at
    from {{ source('lake_silver', 'dim_classes_snapshots') }}
    where snapshot_date = (
        select max(snapshot_date) from {{ source('lake_silver', 'dim_classes_snapshots') }}
    )
),

classes as (
    select
        f.class_id,
        coalesce(f.teacher_key, s.teacher_key) as teacher_key,
        coalesce(f.name, s.name) as name,
        f.is_archived,
        f.created_at
    from folded as f
    left join snapshot as s on s.class_id = f.class_id
    union all
    select s.* from snapshot as s
    where s.class_id is not null and not exists (
        select 1 from folded as f where f.class_id = s.class_id
    )
),

renamed as (
    select
        class_id,
        teacher_key,
        name as class_name,
        is_archived,
        created_at
    from classes
)

select * from renamed
