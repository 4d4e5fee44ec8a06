-- Per assignment: how many targeted students handed in, on time or late, and how many were graded
-- and returned. Students targeted = the class's members (or the listed ones) today.
with assignments as (
    select * from {{ ref('stg_assignments__assignments') }}
),

memberships as (
    select * from {{ ref('stg_classes__enrolments') }}
),

work as (
    select * from {{ ref('stg_assignments__work') }}
),

targeted as (
    select a.assignment_id, m.student_id
    from assignments as a
    inner join memberships as m on m.class_id = a.class_id
    where a.student_ids is null or m.student_id = any(a.student_ids)
),

final as (
    select
        a.assignment_id,
        a.class_id,
        a.assignment_kind,
        a.late_policy,
        a.open_at,
        a.due_at,
        count(t.student_id) as students_targeted,
        count(w.student_id) filter (where w.is_handed_in) as handed_in,
        count(w.student_id) filter (where w.is_handed_in and not w.is_late) as handed_in_on_time,
        count(w.student_id) filter (where w.is_handed_in and w.is_late) as handed_in_late,
        count(w.student_id) filter (where w.is_flagged) as flagged,
        count(w.student_id) filter (where w.is_graded) as graded,
        count(w.student_id) filter (where w.is_returned) as returned,
        case when count(t.student_id) > 0 then round(
            (count(w.student_id) filter (where w.is_handed_in))::numeric / count(t.student_id), 4
        ) end as completion_rate,
        case when count(w.student_id) filter (where w.is_handed_in) > 0 then round(
            (count(w.student_id) filter (where w.is_handed_in and w.is_late))::numeric
            / count(w.student_id) filter (where w.is_handed_in), 4
        ) end as late_rate,
        avg(w.points_awarded) filter (where w.is_graded) as mean_points
    from assignments as a
    left join targeted as t on t.assignment_id = a.assignment_id
    left join work as w on w.assignment_id = t.assignment_id and w.student_id = t.student_id
    group by a.assignment_id, a.class_id, a.assignment_kind, a.late_policy, a.open_at, a.due_at
)

select * from final
