-- Learning records (xAPI statements): verb, activity, class and the result's duration/completion.
with source as (
    select * from {{ source('lrs', 'statements') }}
),

renamed as (
    select
        statement_id,
        user_id as student_id,
        verb,
        object_type,
        object_id,
        class_id,
        (statement -> 'result' ->> 'completion')::boolean as is_completion,
        coalesce(
            nullif(regexp_replace(statement -> 'result' ->> 'duration', '^PT([0-9.]+)S$', '\1'), '')::numeric,
            0
        ) as duration_seconds,
        stored_at
    from source
    where not voided
)

select * from renamed
