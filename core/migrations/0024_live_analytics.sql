-- Live learner analytics (issue 17): written only by the `analytics` event consumer
-- (apis/analytics/consumer.py), read by the analytics service (apis/analytics/).
-- Person columns: student_id. The figures follow the dbt marts' definitions
-- (fct_student_skill_mastery, agg_class_performance) so the nightly check can compare them.

create schema if not exists live;

-- Per (student, class of the exam, skill): responses and correct ones, as in
-- fct_student_skill_mastery (mastery = (correct + 1) / (responses + 2)). class_id is null for an
-- exam of no class, as in the mart.
create table live.skill_mastery (
    student_id         uuid not null,
    class_id           uuid,
    skill              text not null,
    response_count     integer not null,
    correct_count      integer not null,
    first_answered_at  timestamptz not null,
    last_answered_at   timestamptz not null,
    updated_at         timestamptz not null default now(),
    unique nulls not distinct (student_id, class_id, skill)
);
create index live_skill_mastery_by_class on live.skill_mastery (class_id);

-- One row per scored attempt: the student's ability estimate after it.
create table live.theta_history (
    attempt_id  uuid primary key,
    student_id  uuid not null,
    exam_id     uuid not null,
    class_id    uuid,
    theta       double precision not null,
    se          double precision not null,
    scored_at   timestamptz not null
);
create index live_theta_history_by_student on live.theta_history (student_id, scored_at);

-- Per (class, student): completed attempts, the sum of their score fractions (raw / max, for
-- max > 0) and her latest ability estimate in the class.
create table live.class_students (
    class_id            uuid not null,
    student_id          uuid not null,
    attempts_completed  integer not null default 0,
    scored_attempts     integer not null default 0,
    score_pct_sum       double precision not null default 0,
    works_returned      integer not null default 0,
    latest_theta        double precision,
    latest_se           double precision,
    latest_theta_at     timestamptz,
    last_completed_at   timestamptz,
    primary key (class_id, student_id)
);
create index live_class_students_by_student on live.class_students (student_id);

-- Per class: running sums, so a summary is one row (means are sums / counts).
create table live.class_summaries (
    class_id            uuid primary key,
    active_students     integer not null default 0,  -- with a completed attempt
    attempts_completed  integer not null default 0,
    scored_attempts     integer not null default 0,
    score_pct_sum       double precision not null default 0,
    theta_students      integer not null default 0,  -- with an ability estimate
    theta_sum           double precision not null default 0,  -- of their latest estimates
    works_returned      integer not null default 0,
    points_sum          double precision not null default 0,
    last_event_at       timestamptz,
    updated_at          timestamptz not null default now()
);

-- Cache versions: the consumer bumps a student's or class's version in the transaction that
-- changes its figures; the API caches answers in Redis under the version it read, so a cached
-- answer is never older than the data (invalidation by event, exact even across crashes).
create table live.cache_versions (
    scope    text not null check (scope in ('student', 'class')),
    id       uuid not null,
    version  bigint not null default 1,
    primary key (scope, id)
);
