-- One row per (item, skill tag); items without skills have no rows.
with items as (
    select item_id, skills from {{ ref('stg_content__items') }}
),

final as (
    select distinct
        items.item_id,
        skill.skill
    from items
    cross join lateral unnest(items.skills) as skill (skill)
    where skill.skill is not null and skill.skill <> ''
)

select * from final
