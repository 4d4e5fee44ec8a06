-- Per (lesson, class): views, distinct viewers, time reported and completions from the learning
-- records (xAPI statements), all from the lake: the statements (voided ones left out, learners by
-- pseudonymous key) and the lessons' courses from their events.
with statements as (
    select * from {{ ref('stg_lake__learning_records') }}
    where object_type = 'lesson'
),

lessons as (
    select * from {{ ref('stg_lake__lessons') }}
),

final as (
    select
        l.lesson_id,
        l.course_id,
        s.class_id,
        count(*) filter (where s.verb = 'experienced') as views,
        count(distinct s.student_key) as learners,
        round(coalesce(sum(s.duration_seconds), 0)::numeric, 2) as seconds_reported,
        count(distinct s.student_key) filter (where s.verb = 'completed') as completers,
        round(
            (count(distinct s.student_key) filter (where s.verb = 'completed'))::numeric
            / nullif(count(distinct s.student_key), 0), 4
        ) as completion_rate,
        max(s.recorded_at) as last_activity_at
    from statements as s
    inner join lessons as l on l.lesson_id::text = s.object_id
    group by l.lesson_id, l.course_id, s.class_id
)

select * from final
