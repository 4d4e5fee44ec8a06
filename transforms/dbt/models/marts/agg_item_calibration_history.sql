-- Every calibrated version of every item's IRT parameters, with standard errors, S-X2 fit and
-- the drift from the item's previous version (differences in a and in the first threshold b).
with params as (
    select * from {{ ref('stg_content__item_parameters') }}
),

items as (
    select item_id, owner_key, item_status from {{ ref('stg_content__items') }}
),

final as (
    select
        p.item_id,
        p.param_version,
        items.owner_key,
        items.item_status,
        p.calibration_id,
        p.calibration_role,
        p.irt_model,
        p.a,
        p.b,
        p.c,
        p.threshold_count,
        p.se_a,
        p.se_b,
        p.calibration_response_count,
        p.sx2,
        p.sx2_df,
        p.sx2_p,
        coalesce(p.sx2_p < {{ var('sx2_alpha') }}, false) as is_sx2_misfit,
        p.a - lag(p.a) over (partition by p.item_id order by p.param_version) as drift_a,
        p.b - lag(p.b) over (partition by p.item_id order by p.param_version) as drift_b,
        p.is_live,
        p.created_at,
        p.promoted_at
    from params as p
    left join items on items.item_id = p.item_id
)

select * from final
