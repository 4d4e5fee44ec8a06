-- Classical item statistics per (exam, item): facility, item-rest point-biserial, exposure;
-- with the live IRT parameters of the item for comparison.
with responses as (
    select * from {{ ref('int_responses__enriched') }}
),

exams as (
    select exam_id, class_id, owner_key, is_adaptive from {{ ref('stg_exams__exams') }}
),

attempts_per_exam as (
    select exam_id, count(*) as attempt_count
    from {{ ref('stg_exams__attempts') }}
    group by exam_id
),

items as (
    select item_id, owner_key, is_pilot from {{ ref('stg_content__items') }}
),

live as (
    select item_id, irt_model, a, b, c, calibration_id
    from {{ ref('stg_content__item_parameters') }}
    where is_live
),

per_item as (
    select
        exam_id,
        item_id,
        count(*) as response_count,
        count(*) filter (where is_correct) as correct_count,
        count(distinct student_key) as student_count,
        -- item-rest correlation over completed attempts (undefined without variance: null);
        -- pilot responses are not part of the raw score, so their rest score is the raw score
        corr(
            case when is_correct then 1.0 else 0.0 end,
            attempt_raw_score - case when is_correct and not is_pilot then 1 else 0 end
        ) filter (where is_attempt_completed and attempt_raw_score is not null)
            as point_biserial,
        avg(seconds_on_task) as mean_seconds_on_task,
        max(answered_at) as last_answered_at
    from responses
    group by exam_id, item_id
),

final as (
    select
        per_item.exam_id,
        per_item.item_id,
        exams.class_id,
        items.owner_key,
        exams.is_adaptive,
        coalesce(items.is_pilot, false) as is_pilot,
        per_item.response_count,
        per_item.correct_count,
        per_item.student_count,
        round(per_item.correct_count::numeric / per_item.response_count, 4) as facility,
        round(per_item.point_biserial::numeric, 4) as point_biserial,
        round(
            per_item.response_count::numeric / nullif(attempts_per_exam.attempt_count, 0), 4
        ) as exposure_rate,
        round(per_item.mean_seconds_on_task, 1) as mean_seconds_on_task,
        live.irt_model,
        live.a,
        live.b,
        live.c,
        live.calibration_id,
        per_item.last_answered_at
    from per_item
    inner join exams on per_item.exam_id = exams.exam_id
    left join attempts_per_exam on per_item.exam_id = attempts_per_exam.exam_id
    left join items on per_item.item_id = items.item_id
    left join live on per_item.item_id = live.item_id
)

select * from final
