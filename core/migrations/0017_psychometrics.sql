-- Psychometrics II (issue 19): person fit on every scored attempt, the provenance of forms built
-- by automated test assembly, and the DIF flags of the item bank.

-- Person fit (Snijders' lz*) of the attempt's scored answers, written with its IRT result.
-- Null lz* when the pattern cannot be judged (too few items, all right or all wrong, graded items);
-- the reason says which. Personal data of the attempt's student (subject column student_id).
alter table exams.attempts
    add column person_fit_lz     double precision,
    add column is_person_misfit  boolean,
    add column person_fit_reason text check (length(person_fit_reason) <= 500);

-- A fixed form built by the assembler keeps how it was built (blueprint, enemies, exposure caps,
-- information targets, the solver's status and the information achieved); null for hand-made exams.
alter table exams.exams
    add column assembly jsonb check (assembly is null or jsonb_typeof(assembly) = 'object');

-- DIF of each item between a reference group and a focal group of one grouping column of the
-- response history (class_id, or any column the lake carries), one row per DIF run. Written by the
-- Dagster asset item_dif; no personal data (item ids, group labels and statistics only).
create table content.item_dif (
    run_id           text not null check (length(run_id) between 1 and 200),
    item_id          uuid not null,
    grouping         text not null check (length(grouping) between 1 and 100),
    reference_group  text not null,
    focal_group      text not null,
    n_reference      integer not null check (n_reference >= 0),
    n_focal          integer not null check (n_focal >= 0),
    mh_delta         double precision,
    mh_p_value       double precision,
    ets_class        text check (ets_class in ('A', 'B', 'C')),
    lr_g2            double precision,
    lr_df            integer,
    lr_p_value       double precision,
    is_mh_flagged    boolean not null,
    is_lr_flagged    boolean not null,
    computed_at      timestamptz not null default now(),
    primary key (run_id, item_id, grouping, focal_group)
);
create index item_dif_by_item on content.item_dif (item_id, computed_at desc);
