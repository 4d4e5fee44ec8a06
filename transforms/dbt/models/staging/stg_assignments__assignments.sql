-- Assignments from the lake (lake_silver.assignment_events: assignments.assignment.created
-- events), one row per assignment. The owner as her pseudonymous key; an assignment that lists
-- its students carries their keys (student_keys, since issue 18: events recorded before, and
-- assignments for the whole class, have none -> the whole class is targeted). Rows whose ids are
-- not UUIDs are left out.
with source as (
    select * from {{ source('lake_silver', 'assignment_events') }}
    where event_type like 'assignments.assignment.created.%'
),

latest as (
    select distinct on (assignment_id) *
    from source
    order by assignment_id, occurred_at desc, event_seq desc nulls last
),

renamed as (
    select
        {{ lake_uuid('assignment_id') }} as assignment_id,
        owner_key,
        {{ lake_uuid('class_id') }} as class_id,
        kind as assignment_kind,
        {{ lake_uuid('exam_id') }} as exam_id,
        {{ lake_uuid('lesson_id') }} as lesson_id,
        open_at,
        due_at,
        late_policy,
        points,
        student_keys,
        student_keys is not null as is_targeted,
        targeted_students,
        created_at
    from latest
)

select * from renamed
where assignment_id is not null and class_id is not null
