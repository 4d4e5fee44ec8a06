-- Per (class, day): tutoring sessions, students, turns and how they were answered (model,
-- grounded fallback, refusal), tokens and latency, from the lake's tutor turns.
with turns as (
    select * from {{ ref('stg_lake__tutor_turns') }}
),

final as (
    select
        class_id,
        (completed_at at time zone 'UTC')::date as usage_on,
        count(distinct conversation_id) as sessions,
        count(distinct student_key) as students,
        count(*) as turns,
        count(*) filter (where answer_kind = 'model') as model_turns,
        count(*) filter (where is_fallback) as fallback_turns,
        count(*) filter (where is_refusal) as refusal_turns,
        round(avg(is_fallback::int)::numeric, 4) as fallback_rate,
        round(avg(is_refusal::int)::numeric, 4) as refusal_rate,
        count(*) filter (where reason = 'breaker_open') as breaker_open_turns,
        sum(tokens) as tokens,
        round(avg(latency_ms)::numeric, 1) as mean_latency_ms
    from turns
    group by class_id, (completed_at at time zone 'UTC')::date
)

select * from final
