-- Exam definitions from the lake: the exams.exam.created event of each exam
-- (lake_silver.exam_events), the owner as her pseudonymous key (lake/pseudonym.py), never her id.
-- Exams created before the outbox recorded them come from the latest daily snapshot
-- lake_silver.dim_exams_snapshots (which has no exposure target). An exam's definition does not
-- change after creation (its assembly is not in the marts). Rows whose exam id is not a UUID are
-- not the platform's and are left out.
with created as (
    select distinct on (exam_id)
        exam_id,
        owner_key,
        class_id,
        title,
        kind,
        item_count,
        exposure_max_rate,
        coalesce(created_at, occurred_at) as created_at
    from (
        select
            {{ lake_uuid('exam_id') }} as exam_id,
            owner_key,
            {{ lake_uuid('class_id') }} as class_id,
            title,
            kind,
            item_count,
            exposure_max_rate,
            created_at,
            occurred_at,
            event_seq
        from {{ source('lake_silver', 'exam_events') }}
        where event_type like 'exams.exam.created.%'
    ) as events
    where exam_id is not null
    order by exam_id, occurred_at, event_seq nulls last
),

snapshot as (
    select
        {{ lake_uuid('exam_id') }} as exam_id,
        owner_key,
        {{ lake_uuid('class_id') }} as class_id,
        title,
        kind,
        item_count::bigint as item_count,
        null::double precision as exposure_max_rate,
        created_at
    from {{ source('lake_silver', 'dim_exams_snapshots') }}
    where snapshot_date = (
        select max(snapshot_date) from {{ source('lake_silver', 'dim_exams_snapshots') }}
    )
),

exams as (
    select * from created
    union all
    select s.* from snapshot as s
    where s.exam_id is not null and not exists (
        select 1 from created as c where c.exam_id = s.exam_id
    )
),

renamed as (
    select
        exam_id,
        owner_key,
        class_id,
        title as exam_title,
        kind as exam_kind,
        kind = 'adaptive' as is_adaptive,
        item_count::integer as item_count,
        exposure_max_rate::numeric as exposure_max_rate,
        created_at
    from exams
)

select * from renamed
