-- One row per (item, grouping column, focal group): the latest DIF result, for the item-bank
-- dashboard, with the item's owner and skills.
with dif as (
    select * from {{ ref('stg_content__item_dif') }}
),

ranked as (
    select
        dif.*,
        row_number() over (
            partition by dif.item_id, dif.grouping_column, dif.focal_group
            order by dif.computed_at desc, dif.run_id desc
        ) as recency
    from dif
),

items as (
    select item_id, owner_key, item_status, skills from {{ ref('stg_content__items') }}
),

final as (
    select
        ranked.item_id,
        items.owner_key,
        items.item_status,
        items.skills,
        ranked.grouping_column,
        ranked.reference_group,
        ranked.focal_group,
        ranked.n_reference,
        ranked.n_focal,
        round(ranked.mh_delta::numeric, 4) as mh_delta,
        ranked.mh_p_value,
        ranked.ets_class,
        ranked.ets_class = 'C' as is_c_level,
        round(ranked.lr_g2::numeric, 4) as lr_g2,
        ranked.lr_df,
        ranked.lr_p_value,
        ranked.is_mh_flagged,
        ranked.is_lr_flagged,
        ranked.is_mh_flagged or ranked.is_lr_flagged as is_flagged,
        ranked.run_id,
        ranked.computed_at
    from ranked
    inner join items on ranked.item_id = items.item_id
    where ranked.recency = 1
)

select * from final
