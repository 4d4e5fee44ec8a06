-- Per (class, topic): what the tutor was asked about — the lessons its answers cited and the
-- skills of the exam items discussed — with sessions, students, turns, fallbacks and refusals.
with turns as (
    select * from {{ ref('stg_lake__tutor_turns') }}
),

topics as (
    select t.*, 'lesson' as topic_type, lesson_id as topic
    from turns as t cross join unnest(t.lesson_ids) as lesson_id
    union all
    select t.*, 'skill' as topic_type, skill as topic
    from turns as t cross join unnest(t.skills) as skill
),

final as (
    select
        class_id,
        topic_type,
        topic,
        count(distinct conversation_id) as sessions,
        count(distinct student_key) as students,
        count(*) as turns,
        count(*) filter (where is_fallback) as fallback_turns,
        count(*) filter (where is_refusal) as refusal_turns,
        max(completed_at) as last_asked_at
    from topics
    group by class_id, topic_type, topic
)

select * from final
