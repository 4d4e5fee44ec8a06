-- Completed attempts per UTC day and class: what the dashboards plot.
with attempts as (
    select * from {{ ref('fct_exam_attempts') }}
),

final as (
    select
        completed_on,
        class_id,
        count(*) as attempt_count,
        round(avg(score_pct), 4) as mean_score_pct
    from attempts
    group by completed_on, class_id
)

select * from final
