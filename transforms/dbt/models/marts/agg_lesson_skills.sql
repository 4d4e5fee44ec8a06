-- Which published lessons address which skill, one row per (skill, lesson) with its evidence:
-- the lesson's title or text names the skill, and/or the tutor cited the lesson while
-- discussing an item tagged with the skill. The student report recommends these lessons for a
-- student's weakest skills.
with skills as (
    select distinct skill from {{ ref('int_item_skills') }}
),

lessons as (
    select lesson_id, course_id, lesson_title, lesson_body
    from {{ ref('stg_learning__lessons') }}
    where is_published
),

mentioned as (
    select skills.skill, lessons.lesson_id
    from skills
    inner join lessons
        on strpos(
            lower(lessons.lesson_title || ' ' || lessons.lesson_body),
            lower(replace(skills.skill, '_', ' '))
        ) > 0
),

cited as (
    select lessons.lesson_id, s.skill, count(*) as tutor_citations
    from {{ ref('stg_lake__tutor_turns') }} as t
    cross join lateral unnest(t.skills) as s (skill)
    cross join lateral unnest(t.lesson_ids) as l (lesson_id)
    inner join lessons on lessons.lesson_id::text = l.lesson_id
    group by lessons.lesson_id, s.skill
),

pairs as (
    select skill, lesson_id from mentioned
    union
    select skill, lesson_id from cited
),

final as (
    select
        pairs.skill,
        pairs.lesson_id,
        lessons.course_id,
        lessons.lesson_title,
        mentioned.lesson_id is not null as mentions_skill,
        coalesce(cited.tutor_citations, 0) as tutor_citations
    from pairs
    inner join lessons on lessons.lesson_id = pairs.lesson_id
    left join mentioned
        on mentioned.skill = pairs.skill and mentioned.lesson_id = pairs.lesson_id
    left join cited on cited.skill = pairs.skill and cited.lesson_id = pairs.lesson_id
)

select * from final
