-- One row per item of the bank: classical statistics over every exam, exposure of adaptive
-- exams against their target, the live IRT parameters with standard errors, S-X2 fit and drift
-- from the previous version, and a pilot item's progress toward calibration and promotion.
with items as (
    select * from {{ ref('stg_content__items') }}
),

stats as (
    select * from {{ ref('agg_item_statistics') }}
),

exams as (
    select exam_id, exposure_max_rate from {{ ref('stg_exams__exams') }}
),

classical as (
    select
        item_id,
        sum(response_count) as response_count,
        sum(correct_count) as correct_count,
        count(distinct exam_id) as exam_count,
        sum(point_biserial * response_count) filter (where point_biserial is not null)
            / nullif(sum(response_count) filter (where point_biserial is not null), 0)
            as point_biserial
    from stats
    group by item_id
),

exposure as (
    select
        stats.item_id,
        max(stats.exposure_rate) as max_exposure_rate,
        min(coalesce(exams.exposure_max_rate, {{ var('exposure_target_default') }}))
            as exposure_target
    from stats
    inner join exams on exams.exam_id = stats.exam_id
    where stats.is_adaptive
    group by stats.item_id
),

history as (
    select * from {{ ref('agg_item_calibration_history') }}
),

versions as (
    select item_id, count(*) as calibration_versions
    from history
    group by item_id
),

live as (
    select * from history where is_live
),

final as (
    select
        items.item_id,
        items.owner_key,
        items.item_status,
        items.is_pilot,
        array_to_string(items.skills, ', ') as skills,
        items.option_count,
        coalesce(classical.exam_count, 0) as exam_count,
        coalesce(classical.response_count, 0) as response_count,
        coalesce(classical.correct_count, 0) as correct_count,
        round(classical.correct_count::numeric / nullif(classical.response_count, 0), 4)
            as facility,
        round(classical.point_biserial, 4) as point_biserial,
        exposure.max_exposure_rate,
        exposure.exposure_target,
        coalesce(exposure.max_exposure_rate > exposure.exposure_target, false)
            as is_over_exposed,
        coalesce(versions.calibration_versions, 0) as calibration_versions,
        live.param_version as live_version,
        live.irt_model,
        live.a,
        live.b,
        live.c,
        live.se_a,
        live.se_b,
        live.sx2,
        live.sx2_df,
        live.sx2_p,
        coalesce(live.is_sx2_misfit, false) as is_sx2_misfit,
        live.drift_a,
        live.drift_b,
        {{ var('calibration_min_item_responses') }} as calibration_min_responses,
        {{ var('calibration_promote_responses') }} as calibration_promote_responses,
        case when items.is_pilot then round(least(
            coalesce(classical.response_count, 0)::numeric
            / {{ var('calibration_min_item_responses') }}, 1
        ), 4) end as calibration_progress
    from items
    left join classical on classical.item_id = items.item_id
    left join exposure on exposure.item_id = items.item_id
    left join versions on versions.item_id = items.item_id
    left join live on live.item_id = items.item_id
)

select * from final
