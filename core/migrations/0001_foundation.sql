-- Foundation schema: one PostgreSQL schema per service; each service writes only its own.
-- Timestamps are timestamptz (UTC); ids are UUIDs made by the application (core.ids).

create schema if not exists users;
create table users.accounts (
    user_id       uuid primary key,
    email         text not null unique check (email = lower(email) and position('@' in email) > 1),
    display_name  text not null check (length(display_name) between 1 and 200),
    role          text not null check (role in ('student', 'teacher', 'admin', 'analyst')),
    password_hash text not null,
    created_at    timestamptz not null default now()
);

create schema if not exists classes;
create table classes.classes (
    class_id    uuid primary key,
    name        text not null check (length(name) between 1 and 200),
    teacher_id  uuid not null references users.accounts (user_id),
    join_code   text not null unique,
    created_at  timestamptz not null default now()
);
create table classes.memberships (
    class_id    uuid not null references classes.classes (class_id),
    student_id  uuid not null references users.accounts (user_id),
    joined_at   timestamptz not null default now(),
    primary key (class_id, student_id)
);
create index memberships_by_student on classes.memberships (student_id);

create schema if not exists content;
create table content.items (
    item_id     uuid primary key,
    owner_id    uuid not null references users.accounts (user_id),
    stem        text not null check (length(stem) between 1 and 10000),
    options     jsonb not null check (jsonb_typeof(options) = 'array'),
    answer_key  integer not null check (answer_key >= 0),
    skills      text[] not null default '{}',
    status      text not null default 'operational' check (status in ('pilot', 'operational', 'retired')),
    created_at  timestamptz not null default now()
);

create schema if not exists exams;
create table exams.exams (
    exam_id     uuid primary key,
    owner_id    uuid not null references users.accounts (user_id),
    class_id    uuid references classes.classes (class_id),
    title       text not null check (length(title) between 1 and 200),
    kind        text not null default 'fixed' check (kind in ('fixed', 'adaptive')),
    item_ids    uuid[] not null check (cardinality(item_ids) > 0),
    created_at  timestamptz not null default now()
);
create table exams.attempts (
    attempt_id    uuid primary key,
    exam_id       uuid not null references exams.exams (exam_id),
    student_id    uuid not null references users.accounts (user_id),
    status        text not null default 'in_progress' check (status in ('in_progress', 'completed')),
    started_at    timestamptz not null default now(),
    completed_at  timestamptz,
    raw_score     integer,
    max_score     integer
);
create index attempts_by_student on exams.attempts (student_id);
create index attempts_by_exam on exams.attempts (exam_id);
create table exams.responses (
    attempt_id   uuid not null references exams.attempts (attempt_id),
    item_id      uuid not null,
    choice       integer not null,
    is_correct   boolean not null,
    answered_at  timestamptz not null default now(),
    primary key (attempt_id, item_id)
);

-- The transactional outbox. A row is written in the same transaction as the change it announces.
-- `txid` lets the lake ingest read only rows of transactions that can no longer commit "behind" it:
-- every row with txid < pg_snapshot_xmin(pg_current_snapshot()) is final, so the ingest watermark is
-- an xid8 horizon rather than the event_seq (sequence values commit out of order).
create schema if not exists events;
create table events.outbox (
    event_seq     bigint generated always as identity primary key,
    event_id      uuid not null unique,
    event_type    text not null check (event_type ~ '^[a-z_]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$'),
    aggregate_id  text not null,
    occurred_at   timestamptz not null,
    payload       jsonb not null,
    txid          xid8 not null default pg_current_xact_id(),
    published_at  timestamptz
);
create index outbox_unpublished on events.outbox (event_seq) where published_at is null;
create index outbox_by_txid on events.outbox (txid);

-- Every policy decision, written asynchronously by governance.decision_log.
create schema if not exists governance;
create table governance.decisions (
    decision_id      uuid primary key,
    decided_at       timestamptz not null,
    decision         text not null,
    subject_id       text,
    subject_role     text,
    action           text not null,
    resource         jsonb,
    allowed          boolean not null,
    reason           text,
    policy_revision  text not null,
    latency_us       integer not null,
    request_id       text
);
create index decisions_by_time on governance.decisions (decided_at);
