-- One row per class: enrolment, participation and results.
with classes as (
    select * from {{ ref('stg_classes__classes') }}
),

memberships as (
    select * from {{ ref('stg_classes__memberships') }}
),

exams as (
    select exam_id, class_id from {{ ref('stg_exams__exams') }}
    where class_id is not null
),

completed as (
    select * from {{ ref('fct_exam_attempts') }}
    where class_id is not null
),

enrolment as (
    select class_id, count(*) as enrolled_students, max(joined_at) as last_joined_at
    from memberships
    group by class_id
),

exam_counts as (
    select class_id, count(*) as exam_count
    from exams
    group by class_id
),

results as (
    select
        class_id,
        count(*) as attempts_completed,
        count(distinct student_key) as active_students,
        avg(score_pct) as mean_score_pct,
        percentile_cont(0.5) within group (order by score_pct) as median_score_pct,
        count(person_fit_lz) as person_fit_assessed_count,
        count(*) filter (where is_person_misfit) as person_misfit_count,
        max(completed_at) as last_completed_at
    from completed
    group by class_id
),

final as (
    select
        classes.class_id,
        classes.teacher_key,
        classes.class_name,
        coalesce(enrolment.enrolled_students, 0) as enrolled_students,
        coalesce(results.active_students, 0) as active_students,
        round(
            results.active_students::numeric / nullif(enrolment.enrolled_students, 0), 4
        ) as participation_rate,
        coalesce(exam_counts.exam_count, 0) as exam_count,
        coalesce(results.attempts_completed, 0) as attempts_completed,
        round(results.mean_score_pct, 4) as mean_score_pct,
        round(results.median_score_pct::numeric, 4) as median_score_pct,
        coalesce(results.person_fit_assessed_count, 0) as person_fit_assessed_count,
        coalesce(results.person_misfit_count, 0) as person_misfit_count,
        round(
            results.person_misfit_count::numeric
            / nullif(results.person_fit_assessed_count, 0), 4
        ) as person_misfit_rate,
        classes.created_at,
        enrolment.last_joined_at,
        results.last_completed_at
    from classes
    left join enrolment on classes.class_id = enrolment.class_id
    left join exam_counts on classes.class_id = exam_counts.class_id
    left join results on classes.class_id = results.class_id
)

select * from final
