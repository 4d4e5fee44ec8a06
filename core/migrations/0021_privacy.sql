-- Privacy (issue 20): subject export and erasure requests with their progress, the steps an
-- erasure has finished (so a crashed one resumes where it stopped), and consent for external
-- models (a school-wide setting and a per-student opt-out, read by the tutor's policy).
create schema if not exists privacy;

create table privacy.requests (
    request_id    uuid primary key,
    kind          text not null check (kind in ('export', 'erasure')),
    -- The subject while the request runs; an erasure clears it (and the tombstone) when done,
    -- so nothing maps the subject to the new key afterwards.
    user_id       uuid,
    tombstone_id  uuid,
    -- An erasure's subject (e-mail, name, role) while it runs, to find her in the lake's raw
    -- payloads after her account row is gone; cleared when the erasure is done.
    subject       jsonb,
    requested_by  text not null,               -- an admin's user id, or 'operator'
    status        text not null default 'requested'
                  check (status in ('requested', 'running', 'done', 'failed')),
    step          text,                        -- the step running now (progress)
    archive_key   text,                        -- export: the archive's object key in the bucket
    summary       jsonb not null default '{}'::jsonb,  -- counts per store, no personal values
    error         text,
    requested_at  timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    finished_at   timestamptz
);
create index requests_by_user on privacy.requests (user_id) where user_id is not null;
create index requests_open on privacy.requests (requested_at) where status in ('requested', 'running');

create table privacy.request_steps (
    request_id  uuid not null references privacy.requests (request_id) on delete cascade,
    step        text not null,
    done_at     timestamptz not null default now(),
    detail      jsonb not null default '{}'::jsonb,
    primary key (request_id, step)
);

-- One row: may text leave for an external model at all (the school's setting).
create table privacy.school_settings (
    setting_id               boolean primary key default true check (setting_id),
    external_models_allowed  boolean not null default true,
    updated_at               timestamptz not null default now()
);
insert into privacy.school_settings (setting_id) values (true);

-- A student (or her family, through an admin) opts out of external models.
create table privacy.model_opt_outs (
    user_id     uuid primary key references users.accounts (user_id) on delete cascade,
    opted_out_at timestamptz not null default now()
);
