-- Assignments service (issue 14) and the class-management gaps (rename, archive, remove a
-- student). assignments.* is written only by the assignments service. Person columns (clear
-- subject keys): owner_id (teacher), student_id, graded_by (teacher).

alter table classes.classes add column archived boolean not null default false;

create schema if not exists assignments;

-- A piece of work for a class (or some of its students): an exam, a lesson, or a task answered
-- in writing and/or with files; open and due times, a late policy and points.
create table assignments.assignments (
    assignment_id  uuid primary key,
    owner_id       uuid not null references users.accounts (user_id),
    class_id       uuid not null references classes.classes (class_id),
    kind           text not null check (kind in ('exam', 'lesson', 'task')),
    exam_id        uuid references exams.exams (exam_id),
    lesson_id      uuid references learning.lessons (lesson_id),
    title          text not null check (length(title) between 1 and 200),
    instructions   text not null default '' check (length(instructions) <= 20000),
    accepts_text   boolean not null default false,
    accepts_files  boolean not null default false,
    open_at        timestamptz not null,
    due_at         timestamptz not null,
    late_policy    text not null check (late_policy in ('accept', 'flag', 'refuse')),
    points         integer not null check (points between 0 and 10000),
    student_ids    uuid[],  -- null: every student of the class
    created_at     timestamptz not null default now(),
    check (due_at > open_at),
    check ((kind = 'exam') = (exam_id is not null)),
    check ((kind = 'lesson') = (lesson_id is not null)),
    check (kind <> 'task' or accepts_text or accepts_files)
);
create index assignments_by_class on assignments.assignments (class_id, due_at);
create index assignments_by_exam on assignments.assignments (exam_id) where exam_id is not null;
create index assignments_by_lesson on assignments.assignments (lesson_id) where lesson_id is not null;

-- One row per (assignment, student) once she did anything: the state a teacher grades.
create table assignments.work (
    assignment_id   uuid not null references assignments.assignments (assignment_id),
    student_id      uuid not null references users.accounts (user_id),
    state           text not null check (state in ('in_progress', 'submitted', 'graded', 'returned')),
    version         integer not null default 0 check (version >= 0),  -- submissions so far
    submitted_at    timestamptz,
    is_late         boolean not null default false,
    flagged         boolean not null default false,  -- late under the 'flag' policy
    attempt_id      uuid,                            -- exam assignments: the completed attempt
    points_awarded  numeric(8, 2),
    feedback        text check (length(feedback) <= 20000),
    graded_by       uuid references users.accounts (user_id),
    graded_at       timestamptz,
    returned_at     timestamptz,
    updated_at      timestamptz not null default now(),
    primary key (assignment_id, student_id)
);
create index work_by_student on assignments.work (student_id);

-- Every submission, immutable: versions until the due time (later ones only as the late policy
-- allows). Text and finalised media ids (learning.media, holder 'submission').
create table assignments.submissions (
    assignment_id  uuid not null references assignments.assignments (assignment_id),
    student_id     uuid not null references users.accounts (user_id),
    version        integer not null check (version >= 1),
    body           text not null default '' check (length(body) <= 100000),
    media_ids      uuid[] not null default '{}',
    is_late        boolean not null,
    submitted_at   timestamptz not null default now(),
    primary key (assignment_id, student_id, version)
);
