-- Tutor turns from the lake (pseudonymous student keys; no text): one row per turn.
with source as (
    select * from {{ source('lake_silver', 'tutor_turns') }}
),

renamed as (
    select
        turn_id,
        conversation_id,
        turn_index,
        student_key,
        class_id,
        item_id,
        exam_id,
        kind as answer_kind,
        policy_reason as reason,
        kind = 'fallback' as is_fallback,
        kind = 'refusal' as is_refusal,
        coalesce(revealed_answer, false) as is_answer_revealed,
        coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) as tokens,
        latency_ms,
        coalesce(lesson_ids, '{}') as lesson_ids,
        coalesce(skills, '{}') as skills,
        completed_at
    from source
)

select * from renamed
