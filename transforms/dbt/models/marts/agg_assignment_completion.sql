-- Per assignment: how many targeted students handed in, on time or late, and how many were graded
-- and returned. Students targeted = the class's members today (or the listed ones among them).
-- All from the lake, by pseudonymous key: assignments (their listed students' keys), current
-- memberships and the latest work event per (assignment, student). Counts only; names nobody.
with assignments as (
    select * from {{ ref('stg_assignments__assignments') }}
),

memberships as (
    select * from {{ ref('stg_classes__memberships') }}
),

work as (
    select distinct on (assignment_id, student_key)
        assignment_id,
        student_key,
        is_handed_in,
        work_state in ('graded', 'returned') as is_graded,
        work_state = 'returned' as is_returned,
        coalesce(is_late, false) as is_late,
        coalesce(is_flagged, false) as is_flagged,
        points_awarded
    from {{ ref('stg_lake__submissions') }}
    order by assignment_id, student_key, changed_at desc, lake_event_id desc
),

targeted as (
    select a.assignment_id, m.student_key
    from assignments as a
    inner join memberships as m on m.class_id = a.class_id
    where a.student_keys is null or m.student_key = any(a.student_keys)
),

final as (
    select
        a.assignment_id,
        a.class_id,
        a.assignment_kind,
        a.late_policy,
        a.open_at,
        a.due_at,
        count(t.student_key) as students_targeted,
        count(w.student_key) filter (where w.is_handed_in) as handed_in,
        count(w.student_key) filter (where w.is_handed_in and not w.is_late) as handed_in_on_time,
        count(w.student_key) filter (where w.is_handed_in and w.is_late) as handed_in_late,
        count(w.student_key) filter (where w.is_flagged) as flagged,
        count(w.student_key) filter (where w.is_graded) as graded,
        count(w.student_key) filter (where w.is_returned) as returned,
        case when count(t.student_key) > 0 then round(
            (count(w.student_key) filter (where w.is_handed_in))::numeric / count(t.student_key), 4
        ) end as completion_rate,
        case when count(w.student_key) filter (where w.is_handed_in) > 0 then round(
            (count(w.student_key) filter (where w.is_handed_in and w.is_late))::numeric
            / count(w.student_key) filter (where w.is_handed_in), 4
        ) end as late_rate,
        avg(w.points_awarded) filter (where w.is_graded) as mean_points
    from assignments as a
    left join targeted as t on t.assignment_id = a.assignment_id
    left join work as w on w.assignment_id = t.assignment_id and w.student_key = t.student_key
    group by a.assignment_id, a.class_id, a.assignment_kind, a.late_policy, a.open_at, a.due_at
)

select * from final
