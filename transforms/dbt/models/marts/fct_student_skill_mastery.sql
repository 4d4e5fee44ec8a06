-- One row per (student, class, skill): evidence and a smoothed mastery estimate.
-- mastery_estimate = (correct + 1) / (responses + 2) (Laplace); mastered when at least
-- var('mastery_min_responses') responses and mastery_estimate >= var('mastery_threshold').
-- Pilot items count: their keys are known even when their IRT parameters are not.
with responses as (
    select * from {{ ref('int_responses__enriched') }}
),

item_skills as (
    select * from {{ ref('int_item_skills') }}
),

per_skill as (
    select
        responses.student_key,
        responses.class_id,
        item_skills.skill,
        count(*) as response_count,
        count(*) filter (where responses.is_correct) as correct_count,
        count(distinct responses.item_id) as item_count,
        min(responses.answered_at) as first_answered_at,
        max(responses.answered_at) as last_answered_at
    from responses
    inner join item_skills on responses.item_id = item_skills.item_id
    group by responses.student_key, responses.class_id, item_skills.skill
),

final as (
    select
        student_key,
        class_id,
        skill,
        response_count,
        correct_count,
        item_count,
        round(correct_count::numeric / response_count, 4) as pct_correct,
        round((correct_count + 1)::numeric / (response_count + 2), 4) as mastery_estimate,
        response_count >= {{ var('mastery_min_responses') }}
            and (correct_count + 1)::numeric / (response_count + 2)
            >= {{ var('mastery_threshold') }} as is_mastered,
        first_answered_at,
        last_answered_at
    from per_skill
)

select * from final
