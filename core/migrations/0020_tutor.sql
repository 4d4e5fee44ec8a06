-- Tutor service (issue 16): conversations a student opens in a class context (optionally on a
-- lesson, an assignment or an item of an exam she finished), their turns (question, streamed
-- answer, cited passages, whether it was the model, the grounded fallback or a refusal), and the
-- teacher's per-class tutor mode. tutor.* is written only by the tutor service.
-- Person columns (each a users.accounts user_id): user_id (the student), updated_by.
-- Free text (question, answer) is personal data of the student: exported and erased with her
-- (docs/tutor.md); transcripts older than the retention setting are purged.

create schema if not exists tutor;

-- off_during_exams: no tutor while the student has an exam attempt in progress (the default);
-- hints_only: guiding hints, never worked solutions (assignment work); open: full help (practice).
create table tutor.class_settings (
    class_id    uuid primary key references classes.classes (class_id),
    mode        text not null default 'off_during_exams'
                check (mode in ('off_during_exams', 'hints_only', 'open')),
    updated_by  uuid not null references users.accounts (user_id),
    updated_at  timestamptz not null default now()
);

create table tutor.conversations (
    conversation_id  uuid primary key,
    user_id          uuid not null references users.accounts (user_id),
    class_id         uuid not null references classes.classes (class_id),
    lesson_id        uuid,
    assignment_id    uuid,
    exam_id          uuid,
    item_id          uuid,
    turns            integer not null default 0 check (turns >= 0),
    created_at       timestamptz not null default now(),
    last_turn_at     timestamptz,
    check ((exam_id is null) = (item_id is null))
);
create index conversations_by_user on tutor.conversations (user_id, created_at);
create index conversations_by_class on tutor.conversations (class_id, created_at);

create table tutor.turns (
    turn_id            uuid primary key,
    conversation_id    uuid not null references tutor.conversations (conversation_id)
                       on delete cascade,
    user_id            uuid not null references users.accounts (user_id),
    turn_index         integer not null check (turn_index >= 0),
    question           text not null check (length(question) between 1 and 4000),
    answer             text not null,
    kind               text not null check (kind in ('model', 'fallback', 'refusal')),
    reason             text not null,
    citations          jsonb not null default '[]' check (jsonb_typeof(citations) = 'array'),
    model              text,
    prompt_tokens      integer,
    completion_tokens  integer,
    latency_ms         integer,
    created_at         timestamptz not null default now(),
    unique (conversation_id, turn_index)
);
create index turns_by_user on tutor.turns (user_id, created_at);
create index turns_by_created on tutor.turns (created_at);

-- The lake's silver tutor_turns copied into PostgreSQL for dbt (lake/warehouse.py loads it,
-- exactly once by event_id): the tutor-usage marts read the lake, not the transcripts above.
-- Pseudonymised like the lake (student_key), no text.
create schema if not exists lake_silver;
create table lake_silver.tutor_turns (
    event_id           uuid primary key,
    occurred_at        timestamptz not null,
    conversation_id    uuid not null,
    turn_id            uuid not null,
    turn_index         integer,
    student_key        text,
    class_id           uuid,
    item_id            uuid,
    exam_id            uuid,
    model              text,
    prompt_tokens      bigint,
    completion_tokens  bigint,
    latency_ms         bigint,
    revealed_answer    boolean,
    policy_reason      text,
    kind               text,
    lesson_ids         text[],
    skills             text[],
    completed_at       timestamptz
);
create index tutor_turns_by_class on lake_silver.tutor_turns (class_id, occurred_at);
