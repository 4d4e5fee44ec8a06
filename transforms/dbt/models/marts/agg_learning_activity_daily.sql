-- Per (UTC day, class, activity, verb): learning records (xAPI statements) from the lake —
-- statements, learners (pseudonymous keys), seconds reported — with the class's name.
with records as (
    select * from {{ ref('stg_lake__learning_records') }}
),

classes as (
    select * from {{ ref('stg_classes__classes') }}
),

activities as (
    select * from {{ ref('stg_lrs__activities') }}
),

daily as (
    select
        recorded_on as activity_on,
        class_id,
        activity_id,
        verb,
        verb_id,
        count(*) as statements,
        count(distinct learner_key) as learners,
        count(distinct learner_key) filter (where is_platform_learner) as platform_learners,
        round(coalesce(sum(duration_seconds), 0)::numeric, 2) as seconds_reported,
        min(recorded_at) as first_recorded_at,
        max(recorded_at) as last_recorded_at
    from records
    group by recorded_on, class_id, activity_id, verb, verb_id
),

final as (
    select
        d.activity_on,
        d.class_id,
        c.class_name,
        d.activity_id,
        a.activity_name,
        d.verb,
        d.verb_id,
        d.statements,
        d.learners,
        d.platform_learners,
        d.seconds_reported,
        d.first_recorded_at,
        d.last_recorded_at
    from daily as d
    left join classes as c on c.class_id = d.class_id
    left join activities as a on a.activity_id = d.activity_id
)

select * from final
