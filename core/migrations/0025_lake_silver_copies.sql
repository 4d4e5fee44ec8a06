-- Issue 18: one lineage, lake -> marts. The lake's silver tables and daily dimension snapshots
-- copied into PostgreSQL for dbt (lake/warehouse.py, Dagster assets lake_silver/<table>),
-- incrementally by Iceberg snapshot: `lake_silver.copy_state` remembers per table the last copied
-- snapshot, and a copy reads only the data files added since, inserting `on conflict do nothing`
-- in one transaction with its bookkeeping row. Same columns as the lake (ids as text, person ids
-- only as pseudonymous `*_key`s, no free text); a column the lake gains later is copied once a
-- migration adds it here (the copy takes the columns both sides have). `if not exists`: 0028
-- (issue 15) makes learning_records with the same columns, and may have run first.
create schema if not exists lake_silver;

create table if not exists lake_silver.copy_state (
    table_name   text primary key,
    snapshot_id  bigint not null,
    rows_copied  bigint not null default 0,
    copied_at    timestamptz not null default now()
);

create table if not exists lake_silver.assignment_events (
    event_id           text primary key,
    event_seq          bigint,
    event_type         text not null,
    event_version      integer,
    occurred_at        timestamptz not null,
    assignment_id      text,
    owner_key          text,
    class_id           text,
    kind               text,
    exam_id            text,
    lesson_id          text,
    open_at            timestamptz,
    due_at             timestamptz,
    late_policy        text,
    points             bigint,
    targeted_students  bigint,
    created_at         timestamptz
);

create table if not exists lake_silver.attempts (
    event_id            text primary key,
    event_seq           bigint,
    event_type          text not null,
    event_version       integer,
    occurred_at         timestamptz not null,
    attempt_id          text,
    exam_id             text,
    student_key         text,
    class_id            text,
    raw_score           bigint,
    max_score           bigint,
    started_at          timestamptz,
    completed_at        timestamptz,
    theta               double precision,
    se                  double precision,
    scale_score         double precision,
    percentile          double precision,
    items_administered  bigint,
    scored_items        bigint,
    stop_reason         text,
    person_fit_lz       double precision,
    is_person_misfit    boolean,
    person_fit_reason   text
);

create table if not exists lake_silver.class_events (
    event_id       text primary key,
    event_seq      bigint,
    event_type     text not null,
    event_version  integer,
    occurred_at    timestamptz not null,
    class_id       text,
    teacher_key    text,
    created_at     timestamptz,
    archived       boolean,
    updated_at     timestamptz,
    student_key    text,
    joined_at      timestamptz,
    removed_at     timestamptz
);

create table if not exists lake_silver.exam_events (
    event_id       text primary key,
    event_seq      bigint,
    event_type     text not null,
    event_version  integer,
    occurred_at    timestamptz not null,
    exam_id        text,
    owner_key      text,
    class_id       text,
    item_count     bigint,
    created_at     timestamptz,
    kind           text,
    title          text
);

create table if not exists lake_silver.item_events (
    event_id           text primary key,
    event_seq          bigint,
    event_type         text not null,
    event_version      integer,
    occurred_at        timestamptz not null,
    item_id            text,
    owner_key          text,
    skills             text[],
    created_at         timestamptz,
    version            bigint,
    status             text,
    updated_at         timestamptz,
    param_id           text,
    calibration_id     text,
    model              text,
    a                  double precision,
    b                  double precision[],
    c                  double precision,
    previous_param_id  text,
    promoted_at        timestamptz
);

create table if not exists lake_silver.item_selections (
    event_id       text primary key,
    event_seq      bigint,
    event_type     text not null,
    event_version  integer,
    occurred_at    timestamptz not null,
    attempt_id     text,
    exam_id        text,
    student_key    text,
    position       bigint,
    item_id        text,
    pilot          boolean,
    rule           text,
    reason         text,
    criterion      double precision,
    candidates     bigint,
    seed           bigint,
    theta_before   double precision,
    se_before      double precision,
    selected_at    timestamptz
);

create table if not exists lake_silver.learning_records (
    event_id          text primary key,
    event_seq         bigint,
    event_type        text not null,
    event_version     integer,
    occurred_at       timestamptz not null,
    record_id         text,
    student_key       text,
    actor_key         text,
    verb              text,
    verb_id           text,
    object_type       text,
    object_id         text,
    activity_id       text,
    registration      text,
    class_id          text,
    score             double precision,
    success           boolean,
    duration_seconds  double precision,
    progress          double precision,
    completion        boolean,
    voids_record_id   text,
    credential_id     text,
    recorded_at       timestamptz
);

create table if not exists lake_silver.lesson_events (
    event_id           text primary key,
    event_seq          bigint,
    event_type         text not null,
    event_version      integer,
    occurred_at        timestamptz not null,
    course_id          text,
    class_id           text,
    owner_key          text,
    assigned           boolean,
    changed_at         timestamptz,
    created_at         timestamptz,
    archived           boolean,
    updated_at         timestamptz,
    lesson_id          text,
    unit_id            text,
    version            bigint,
    published_version  bigint,
    attachment_count   bigint,
    position           bigint
);

create table if not exists lake_silver.lrs_credential_events (
    event_id       text primary key,
    event_seq      bigint,
    event_type     text not null,
    event_version  integer,
    occurred_at    timestamptz not null,
    credential_id  text,
    owner_key      text,
    class_id       text,
    scopes         text[],
    issued_at      timestamptz,
    revoked_at     timestamptz
);

create table if not exists lake_silver.media_events (
    event_id       text primary key,
    event_seq      bigint,
    event_type     text not null,
    event_version  integer,
    occurred_at    timestamptz not null,
    media_id       text,
    user_key       text,
    holder_type    text,
    holder_id      text,
    kind           text,
    content_type   text,
    size_bytes     bigint,
    reason         text,
    changed_at     timestamptz
);

create table if not exists lake_silver.notifications (
    event_id         text primary key,
    event_seq        bigint,
    event_type       text not null,
    event_version    integer,
    occurred_at      timestamptz not null,
    notification_id  text,
    recipient_key    text,
    channel          text,
    kind             text,
    source_event_id  text,
    sent_at          timestamptz
);

create table if not exists lake_silver.responses (
    event_id       text primary key,
    event_seq      bigint,
    event_type     text not null,
    event_version  integer,
    occurred_at    timestamptz not null,
    attempt_id     text,
    exam_id        text,
    student_key    text,
    item_id        text,
    choice         bigint,
    is_correct     boolean,
    answered_at    timestamptz,
    position       bigint,
    item_version   bigint,
    score          bigint,
    pilot          boolean
);

create table if not exists lake_silver.submissions (
    event_id        text primary key,
    event_seq       bigint,
    event_type      text not null,
    event_version   integer,
    occurred_at     timestamptz not null,
    assignment_id   text,
    student_key     text,
    class_id        text,
    kind            text,
    state           text,
    version         bigint,
    is_late         boolean,
    flagged         boolean,
    points_awarded  double precision,
    attempt_id      text,
    changed_at      timestamptz
);

-- tutor_turns exists since 0020 (copied exactly once by event_id); the envelope columns it lacked.
alter table lake_silver.tutor_turns
    add column if not exists event_seq bigint,
    add column if not exists event_type text,
    add column if not exists event_version integer;

create table if not exists lake_silver.user_events (
    event_id        text primary key,
    event_seq       bigint,
    event_type      text not null,
    event_version   integer,
    occurred_at     timestamptz not null,
    user_key        text,
    deactivated_at  timestamptz,
    role            text,
    registered_at   timestamptz,
    previous_role   text,
    changed_at      timestamptz
);

create table if not exists lake_silver.dim_accounts_snapshots (
    snapshot_date  date not null,
    user_key       text not null,
    role           text,
    created_at     timestamptz,
    primary key (snapshot_date, user_key)
);

create table if not exists lake_silver.dim_classes_snapshots (
    snapshot_date  date not null,
    class_id       text not null,
    name           text,
    teacher_key    text,
    created_at     timestamptz,
    primary key (snapshot_date, class_id)
);

create table if not exists lake_silver.dim_memberships_snapshots (
    snapshot_date  date not null,
    class_id       text not null,
    student_key    text not null,
    joined_at      timestamptz,
    primary key (snapshot_date, class_id, student_key)
);

create table if not exists lake_silver.dim_items_snapshots (
    snapshot_date  date not null,
    item_id        text not null,
    owner_key      text,
    version        integer,
    status         text,
    scoring        text,
    skills         text[],
    created_at     timestamptz,
    updated_at     timestamptz,
    primary key (snapshot_date, item_id)
);

create table if not exists lake_silver.dim_exams_snapshots (
    snapshot_date  date not null,
    exam_id        text not null,
    owner_key      text,
    class_id       text,
    title          text,
    kind           text,
    item_count     integer,
    created_at     timestamptz,
    primary key (snapshot_date, exam_id)
);

create index if not exists attempts_by_attempt on lake_silver.attempts (attempt_id);
create index if not exists responses_by_attempt on lake_silver.responses (attempt_id);
create index if not exists class_events_by_class on lake_silver.class_events (class_id, occurred_at);
create index if not exists submissions_by_assignment on lake_silver.submissions (assignment_id, occurred_at);
