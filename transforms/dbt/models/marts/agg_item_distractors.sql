-- Indexed by exam: the item bank page reads one exam's rows (a scan of every exam's rows
-- before, 60,000 at 1 M responses; bench/README.md, dashboards run 2).
{{ config(indexes=[{'columns': ['exam_id']}]) }}

-- Distractor analysis per (exam, item, score group, option): the share of the group's answers to
-- the item that chose the option. Score groups are the thirds (lower, middle, upper) of the
-- exam's completed attempts ranked by θ when scored by IRT, else by raw score / max score. A
-- good key is chosen more often by higher groups; a good distractor less often.
with attempts as (
    select
        attempt_id,
        exam_id,
        coalesce(theta, raw_score::double precision / nullif(max_score, 0)) as ability
    from {{ ref('stg_exams__attempts') }}
    where is_completed
),

grouped as (
    select
        attempt_id,
        exam_id,
        case ntile(3) over (partition by exam_id order by ability, attempt_id)
            when 1 then 'lower' when 2 then 'middle' else 'upper'
        end as score_group
    from attempts
    where ability is not null
),

responses as (
    select attempt_id, item_id, choice, is_correct
    from {{ ref('stg_exams__responses') }}
    where choice is not null
),

exams as (
    select exam_id, class_id from {{ ref('stg_exams__exams') }}
),

items as (
    select item_id, owner_key, option_count from {{ ref('stg_content__items') }}
),

counted as (
    select
        g.exam_id,
        r.item_id,
        g.score_group,
        r.choice,
        count(*) as chosen_count,
        bool_or(r.is_correct) as is_key
    from responses as r
    inner join grouped as g on g.attempt_id = r.attempt_id
    group by g.exam_id, r.item_id, g.score_group, r.choice
),

final as (
    select
        c.exam_id,
        c.item_id,
        exams.class_id,
        items.owner_key,
        c.score_group,
        c.choice,
        c.is_key,
        c.chosen_count,
        sum(c.chosen_count) over (partition by c.exam_id, c.item_id, c.score_group)
            as group_response_count,
        round(
            c.chosen_count::numeric
            / sum(c.chosen_count) over (partition by c.exam_id, c.item_id, c.score_group),
            4
        ) as share
    from counted as c
    inner join exams on exams.exam_id = c.exam_id
    left join items on items.item_id = c.item_id
)

select * from final
