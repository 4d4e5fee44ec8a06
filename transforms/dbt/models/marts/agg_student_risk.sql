-- One row per (class, student member, by pseudonymous key): the latest ability estimate with its
-- 95 % interval, the trend over the last var('risk_trend_attempts') estimated attempts, the last
-- activity (exam answers or starts, work handed in: the lake's submissions), and the at-risk
-- flags with their reasons:
--   low      latest θ below var('risk_low_theta');
--   falling  least-squares slope of θ per attempt over the last N attempts is negative (needs N);
--   inactive no activity for more than var('risk_inactive_days') days before the build day
--            (since joining when there was none).
with memberships as (
    select class_id, student_key, joined_at from {{ ref('stg_classes__memberships') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by student_key, class_id order by attempt_ordinal desc
        ) as recency
    from {{ ref('fct_student_ability') }}
),

latest as (
    select student_key, class_id, theta, theta_se, theta_lower_95, theta_upper_95, completed_at
    from ranked
    where recency = 1
),

estimated as (
    select
        student_key,
        class_id,
        count(*) as estimated_attempts,
        count(*) filter (where recency <= {{ var('risk_trend_attempts') }}) as trend_attempts,
        regr_slope(theta, attempt_ordinal) filter (
            where recency <= {{ var('risk_trend_attempts') }}
        ) as theta_slope
    from ranked
    group by student_key, class_id
),

exam_activity as (
    select student_key, class_id, max(activity_on) as last_active_on
    from {{ ref('int_student_activity_days') }}
    group by student_key, class_id
),

work_activity as (
    select student_key, class_id, max((changed_at at time zone 'UTC')::date) as last_active_on
    from {{ ref('stg_lake__submissions') }}
    where is_submission
    group by student_key, class_id
),

joined as (
    select
        m.class_id,
        m.student_key,
        m.joined_at,
        coalesce(e.estimated_attempts, 0) as estimated_attempts,
        l.theta as latest_theta,
        l.theta_se as latest_theta_se,
        l.theta_lower_95 as latest_theta_lower_95,
        l.theta_upper_95 as latest_theta_upper_95,
        l.completed_at as latest_estimated_at,
        coalesce(e.trend_attempts, 0) as trend_attempts,
        e.theta_slope,
        nullif(greatest(
            coalesce(x.last_active_on, '-infinity'::date),
            coalesce(w.last_active_on, '-infinity'::date)
        ), '-infinity'::date) as last_active_on,
        (current_timestamp at time zone 'UTC')::date as as_of
    from memberships as m
    left join latest as l on l.student_key = m.student_key and l.class_id = m.class_id
    left join estimated as e on e.student_key = m.student_key and e.class_id = m.class_id
    left join exam_activity as x on x.student_key = m.student_key and x.class_id = m.class_id
    left join work_activity as w on w.student_key = m.student_key and w.class_id = m.class_id
),

flagged as (
    select
        *,
        as_of - coalesce(last_active_on, (joined_at at time zone 'UTC')::date) as days_inactive,
        coalesce(latest_theta < {{ var('risk_low_theta') }}, false) as is_low,
        coalesce(
            trend_attempts >= {{ var('risk_trend_attempts') }} and theta_slope < 0, false
        ) as is_falling,
        as_of - coalesce(last_active_on, (joined_at at time zone 'UTC')::date)
            > {{ var('risk_inactive_days') }} as is_inactive
    from joined
),

final as (
    select
        class_id,
        student_key,
        estimated_attempts,
        latest_theta,
        latest_theta_se,
        latest_theta_lower_95,
        latest_theta_upper_95,
        latest_estimated_at,
        trend_attempts,
        theta_slope,
        last_active_on,
        days_inactive,
        as_of,
        is_low,
        is_falling,
        is_inactive,
        is_low or is_falling or is_inactive as is_at_risk,
        nullif(concat_ws('; ',
            case when is_low then format(
                'low: latest θ %s (95 %% interval %s to %s) is below %s',
                round(latest_theta::numeric, 2),
                round(latest_theta_lower_95::numeric, 2),
                round(latest_theta_upper_95::numeric, 2),
                {{ var('risk_low_theta') }}
            ) end,
            case when is_falling then format(
                'falling: θ changed by %s per attempt over the last %s attempts',
                round(theta_slope::numeric, 2),
                trend_attempts
            ) end,
            case when is_inactive then (
                case when last_active_on is null then format(
                    'inactive: no activity in the %s days since joining', days_inactive
                ) else format(
                    'inactive: no activity for %s days (last on %s)', days_inactive, last_active_on
                ) end
            ) end
        ), '') as risk_reasons
    from flagged
)

select * from final
