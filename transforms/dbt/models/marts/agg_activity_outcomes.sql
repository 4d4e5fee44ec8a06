-- Per (activity, class): completion and scores from the learning records (xAPI statements) in the
-- lake — completions and completers, passed / failed statements, scaled-score mean / min / max,
-- learners — joined to the class dimension and the activity's skill tags.
-- A statement's outcome is result.success when given, else its verb (passed / failed).
with records as (
    select
        *,
        coalesce(
            success,
            case verb when 'passed' then true when 'failed' then false end
        ) as is_success,
        coalesce(completion, false) or verb = 'completed' as is_completion
    from {{ ref('stg_lake__learning_records') }}
    where activity_id is not null
),

classes as (
    select * from {{ ref('stg_classes__classes') }}
),

activities as (
    select * from {{ ref('stg_lrs__activities') }}
),

skills as (
    select activity_id, array_agg(skill order by skill) as skills
    from {{ ref('int_activity_skills') }}
    group by activity_id
),

outcomes as (
    select
        activity_id,
        class_id,
        count(*) as statements,
        count(distinct learner_key) as learners,
        count(*) filter (where is_completion) as completions,
        count(distinct learner_key) filter (where is_completion) as completers,
        count(*) filter (where is_success) as passed,
        count(*) filter (where not is_success) as failed,
        count(scaled_score) as scored,
        round(avg(scaled_score)::numeric, 4) as mean_scaled_score,
        round(min(scaled_score)::numeric, 4) as min_scaled_score,
        round(max(scaled_score)::numeric, 4) as max_scaled_score,
        max(recorded_at) as last_recorded_at
    from records
    group by activity_id, class_id
),

final as (
    select
        o.activity_id,
        a.activity_name,
        a.activity_type,
        o.class_id,
        c.class_name,
        coalesce(s.skills, '{}'::text[]) as skills,
        o.statements,
        o.learners,
        o.completions,
        o.completers,
        round(o.completers::numeric / o.learners, 4) as completion_rate,
        o.passed,
        o.failed,
        o.scored,
        o.mean_scaled_score,
        o.min_scaled_score,
        o.max_scaled_score,
        o.last_recorded_at
    from outcomes as o
    left join classes as c on c.class_id = o.class_id
    left join activities as a on a.activity_id = o.activity_id
    left join skills as s on s.activity_id = o.activity_id
)

select * from final
