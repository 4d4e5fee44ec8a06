-- Class memberships by clear student id, from OLTP (classes.memberships). Only for
-- agg_assignment_completion: an assignment may target listed students by id
-- (assignments.student_ids), which the lake does not carry; that mart counts, it names nobody.
-- Every other model reads memberships from the lake (stg_classes__memberships, by student_key).
with source as (
    select * from {{ source('classes', 'memberships') }}
),

renamed as (
    select
        class_id,
        student_id,
        joined_at
    from source
)

select * from renamed
