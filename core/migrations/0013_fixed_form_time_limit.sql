-- Fixed-form exams may now carry settings too (a time limit: {"time_limit_seconds": N});
-- adaptive exams still must have theirs.
alter table exams.exams drop constraint exams_adaptive_has_config;
alter table exams.exams add constraint exams_adaptive_has_config
    check (kind <> 'adaptive' or config is not null);
