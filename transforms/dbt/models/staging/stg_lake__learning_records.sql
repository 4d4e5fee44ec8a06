-- Learning records (xAPI statements) from the lake, as they count: voided statements and the
-- voiding statements themselves are left out. One row per statement; learners are pseudonymous.
with source as (
    select * from {{ source('lake_silver', 'learning_records') }}
),

voided as (
    select distinct voids_record_id as record_id
    from source
    where voids_record_id is not null
),

renamed as (
    select
        s.record_id,
        s.student_key,
        s.actor_key,
        coalesce(s.student_key, s.actor_key) as learner_key,
        s.student_key is not null as is_platform_learner,
        s.verb,
        s.verb_id,
        s.object_type,
        s.object_id,
        s.activity_id,
        s.registration,
        s.class_id::uuid as class_id,
        s.credential_id,
        s.score as scaled_score,
        s.success,
        s.completion,
        s.duration_seconds,
        s.progress,
        s.recorded_at,
        (s.recorded_at at time zone 'UTC')::date as recorded_on
    from source as s
    where s.voids_record_id is null
      and s.record_id not in (select v.record_id from voided as v)
)

select * from renamed
