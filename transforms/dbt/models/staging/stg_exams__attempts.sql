-- Attempts from the lake (lake_silver.attempts: silver `attempts`, copied by lake/warehouse.py),
-- one row per attempt, folded from its exams.attempt.started / completed / scored events: the
-- start (started_at, also carried by the completion), the completion (raw and max score,
-- completed_at) and the IRT result (θ, SE, person fit; adaptive and IRT-scored fixed forms only).
-- The student is her pseudonymous key (HMAC of the id, lake/pseudonym.py), never her id. Rows
-- whose ids are not UUIDs are not the platform's and are left out.
with source as (
    select * from {{ source('lake_silver', 'attempts') }}
),

events as (
    select
        {{ lake_uuid('attempt_id') }} as attempt_id,
        exam_id,
        student_key,
        event_type like 'exams.attempt.completed.%' as is_completion,
        event_type like 'exams.attempt.scored.%' as is_scoring,
        raw_score,
        max_score,
        started_at,
        completed_at,
        theta,
        se,
        person_fit_lz,
        is_person_misfit,
        person_fit_reason
    from source
),

folded as (
    select
        attempt_id,
        max(exam_id) as exam_id,
        max(student_key) as student_key,
        bool_or(is_completion) as is_completed,
        max(raw_score) filter (where is_completion) as raw_score,
        max(max_score) filter (where is_completion) as max_score,
        max(theta) filter (where is_scoring) as theta,
        max(se) filter (where is_scoring) as theta_se,
        max(person_fit_lz) filter (where is_scoring) as person_fit_lz,
        bool_or(is_person_misfit) filter (where is_scoring) as is_person_misfit,
        max(person_fit_reason) filter (where is_scoring) as person_fit_reason,
        min(started_at) as started_at,
        max(completed_at) filter (where is_completion) as completed_at
    from events
    where attempt_id is not null
    group by attempt_id
),

renamed as (
    select
        attempt_id,
        {{ lake_uuid('exam_id') }} as exam_id,
        student_key,
        case when is_completed then 'completed' else 'in_progress' end as attempt_status,
        is_completed,
        raw_score::integer as raw_score,
        max_score::integer as max_score,
        theta,
        theta_se,
        person_fit_lz,
        is_person_misfit,
        person_fit_reason,
        started_at,
        completed_at
    from folded
)

select * from renamed
where exam_id is not null and student_key is not null and started_at is not null
