-- Lessons from the lake (lake_silver.lesson_events: learning.lesson.created / updated /
-- published / unpublished), one row per lesson as its latest event left it: unit, course,
-- version, the published version students see. No title or body: the lake keeps no free text
-- (agg_lesson_skills, which searches the text, still reads stg_learning__lessons). Rows whose ids
-- are not UUIDs are left out.
with source as (
    select * from {{ source('lake_silver', 'lesson_events') }}
    where event_type like 'learning.lesson.%'
),

latest as (
    select distinct on (lesson_id) *
    from source
    order by lesson_id, occurred_at desc, event_seq desc nulls last
),

renamed as (
    select
        {{ lake_uuid('lesson_id') }} as lesson_id,
        {{ lake_uuid('unit_id') }} as unit_id,
        {{ lake_uuid('course_id') }} as course_id,
        owner_key,
        version,
        published_version,
        published_version is not null as is_published,
        changed_at
    from latest
)

select * from renamed
where lesson_id is not null
