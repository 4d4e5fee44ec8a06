-- Skill tags of learning-record activities, one row per (activity, skill): the skills of the
-- platform item an activity IRI names (urn:dreamseed:item:<item_id>), and those an activity's
-- definition declares in its extension urn:dreamseed:skills (what the LRS last saw).
with records as (
    select distinct activity_id
    from {{ ref('stg_lake__learning_records') }}
    where activity_id is not null
),

of_items as (
    select r.activity_id, s.skill
    from records as r
    inner join {{ ref('int_item_skills') }} as s
        on r.activity_id = 'urn:dreamseed:item:' || s.item_id::text
),

declared as (
    select a.activity_id, skill.skill
    from {{ ref('stg_lrs__activities') }} as a
    cross join lateral unnest(a.declared_skills) as skill (skill)
),

final as (
    select distinct activity_id, skill
    from (
        select activity_id, skill from of_items
        union all
        select activity_id, skill from declared
    ) as tagged
    where skill is not null and skill <> ''
)

select * from final
