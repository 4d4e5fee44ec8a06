-- Assessment service (issue 6): versioned items with media and graded scoring, versioned IRT
-- parameters with a promoted ("live") pointer, adaptive exams, attempts that carry their CAT
-- configuration and seed, a selection log for replay, idempotent responses.
-- content.* is written only by the content service, exams.* only by the exams service.

-- ---------------------------------------------------------------- content: the item bank
alter table content.items
    add column version     integer not null default 1 check (version >= 1),
    add column scoring     text not null default 'key' check (scoring in ('key', 'graded')),
    add column media       jsonb not null default '[]' check (jsonb_typeof(media) = 'array'),
    add column updated_at  timestamptz not null default now();
-- Graded (polytomous) items have ordered categories instead of a key.
alter table content.items alter column answer_key drop not null;
alter table content.items add constraint items_key_matches_scoring
    check ((scoring = 'key') = (answer_key is not null));
create index items_by_owner on content.items (owner_id, item_id);

-- Every version of every item, immutable: exams pin (item_id, version) so an edit never changes
-- what an existing exam shows, and an appeal can see exactly what the student saw.
create table content.item_versions (
    item_id     uuid not null references content.items (item_id),
    version     integer not null check (version >= 1),
    stem        text not null,
    options     jsonb not null check (jsonb_typeof(options) = 'array'),
    answer_key  integer,
    scoring     text not null check (scoring in ('key', 'graded')),
    skills      text[] not null default '{}',
    media       jsonb not null default '[]',
    status      text not null check (status in ('pilot', 'operational', 'retired')),
    created_by  uuid not null,
    created_at  timestamptz not null default now(),
    primary key (item_id, version)
);
insert into content.item_versions
    (item_id, version, stem, options, answer_key, scoring, skills, media, status, created_by, created_at)
select item_id, 1, stem, options, answer_key, 'key', skills, '[]', status, owner_id, created_at
from content.items;

-- IRT parameters, one row per (item, calibration). The calibration pipeline (lakehouse) adds rows;
-- promoting one makes it the live row of its item (at most one live row per item).
-- Slope-intercept and IRT forms are both stored: d[k] = -a * b[k]. Dichotomous items have one
-- threshold; graded items (Samejima's GRM) have one per category boundary, increasing in b.
create table content.item_parameters (
    param_id        uuid primary key,
    item_id         uuid not null references content.items (item_id),
    version         integer not null check (version >= 1),
    calibration_id  text not null check (length(calibration_id) between 1 and 200),
    model           text not null check (model in ('rasch', '1pl', '2pl', '3pl', 'grm')),
    a               double precision not null check (a > 0),
    b               double precision[] not null check (cardinality(b) >= 1),
    c               double precision not null default 0 check (c >= 0 and c < 1),
    d               double precision[] not null check (cardinality(d) >= 1),
    provenance      jsonb not null default '{}' check (jsonb_typeof(provenance) = 'object'),
    is_live         boolean not null default false,
    created_at      timestamptz not null default now(),
    promoted_at     timestamptz,
    unique (item_id, version),
    unique (item_id, calibration_id),
    check (cardinality(b) = cardinality(d)),
    check (not is_live or promoted_at is not null)
);
create unique index item_parameters_one_live on content.item_parameters (item_id) where is_live;

-- ---------------------------------------------------------------- exams: adaptive delivery
alter table exams.exams
    add column config       jsonb,           -- adaptive rules (null for fixed-form exams)
    add column item_versions integer[];      -- pinned version of each item_ids entry
alter table exams.exams add constraint exams_adaptive_has_config
    check ((kind = 'adaptive') = (config is not null));

alter table exams.attempts
    add column seed          bigint,          -- selection randomness: rng([seed, position])
    add column param_ids     uuid[],          -- the IRT parameters used, in pool order
    add column bank_key      text,            -- exam id + digest of param_ids (bank cache key)
    add column deadline      timestamptz,     -- server-side time limit
    add column position      integer not null default 0,  -- items answered so far
    add column current_item  uuid,            -- the item being asked (adaptive), null when done
    add column n_scored      integer not null default 0,
    add column n_correct     integer not null default 0,
    add column theta         double precision,
    add column se            double precision,
    add column scale_score   double precision,
    add column percentile    double precision,
    add column skill_profile jsonb,
    add column stop_reason   text;

alter table exams.responses
    add column position         integer,       -- 0-based order of administration
    add column score            integer,       -- category score used by IRT (0/1 for keyed items)
    add column pilot            boolean not null default false,
    add column item_version     integer,
    add column idempotency_key  text check (length(idempotency_key) between 1 and 200);
create unique index responses_idempotency on exams.responses (attempt_id, idempotency_key)
    where idempotency_key is not null;
create unique index responses_position on exams.responses (attempt_id, position)
    where position is not null;

-- One row per adaptive selection: enough to replay and audit the test.
create table exams.selections (
    attempt_id   uuid not null references exams.attempts (attempt_id),
    position     integer not null check (position >= 0),
    exam_id      uuid not null,
    item_id      uuid not null,
    bank_index   integer not null check (bank_index >= 0),
    pilot        boolean not null,
    rule         text not null,                -- selection rule + exposure control
    reason       text not null,                -- the CAT engine's own explanation
    criterion    double precision,             -- criterion value of the chosen item
    candidates   integer not null,             -- items still available when selecting
    seed         bigint not null,
    rng          text not null,                -- how the generator was seeded
    theta_before double precision not null,
    se_before    double precision not null,
    selected_at  timestamptz not null default now(),
    primary key (attempt_id, position)
);
create index selections_by_exam_item on exams.selections (exam_id, item_id);

-- Exposure counters per item, derived from the selection log (no hot counter row to contend on).
create view exams.item_exposure as
select s.exam_id, s.item_id,
       count(*)                                   as selections,
       count(*) filter (where s.pilot)            as pilot_selections,
       count(r.item_id)                           as responses,
       count(*) filter (where r.is_correct)       as correct
from exams.selections s
left join exams.responses r on r.attempt_id = s.attempt_id and r.item_id = s.item_id
group by s.exam_id, s.item_id;
