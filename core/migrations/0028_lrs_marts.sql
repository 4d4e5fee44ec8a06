-- Issue 15: the lake's silver learning_records (xAPI statements, pseudonymised: student_key and
-- actor_key, no free text) copied into PostgreSQL for the dbt LRS marts (lake/warehouse.py, Dagster
-- asset lake_silver/learning_records), exactly once by event_id. Same columns as the lake (ids as
-- text). `if not exists`: issue 18's generic copy (every silver table) makes the same table with
-- the same columns; whichever migration runs first makes it.
create schema if not exists lake_silver;
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
create index if not exists learning_records_by_class
    on lake_silver.learning_records (class_id, recorded_at);
