-- Per (lesson, class): views, distinct viewers, time reported and completions from the learning
-- records (xAPI statements).
with statements as (
    select * from {{ ref('stg_learning__statements') }}
    where object_type = 'lesson'
),

lessons as (
    select * from {{ ref('stg_learning__lessons') }}
),

final as (
    select
        l.lesson_id,
        l.course_id,
        s.class_id,
        count(*) filter (where s.verb = 'experienced') as views,
        count(distinct s.student_id) as learners,
        round(sum(s.duration_seconds), 2) as seconds_reported,
        count(distinct s.student_id) filter (where s.verb = 'completed') as completers,
        round(
            (count(distinct s.student_id) filter (where s.verb = 'completed'))::numeric
            / count(distinct s.student_id), 4
        ) as completion_rate,
        max(s.stored_at) as last_activity_at
    from statements as s
    inner join lessons as l on l.lesson_id::text = s.object_id
    group by l.lesson_id, l.course_id, s.class_id
)

select * from final
