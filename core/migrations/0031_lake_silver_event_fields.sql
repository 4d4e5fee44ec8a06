-- Issue 18: fields the marts need that the events did not carry, added to the contracts as
-- optional (backward compatible; events recorded before have them null) so that exams, items
-- and classes can be read from the lake instead of OLTP. The silver tables gain the columns on
-- their next append (lake.silver.ensure_silver_table, union by name); the PostgreSQL copies
-- gain them here (a copy takes the columns both sides have).
--   classes.class.created.v1 / updated.v1: name (the class's name after the event)
--   content.item.created.v1: version, status (already columns: updated.v1 has them), scoring,
--   option_count; content.item.updated.v1: scoring, option_count
--   exams.exam.created.v1: exposure_max_rate (the adaptive exam's Sympson-Hetter target)
alter table lake_silver.class_events add column if not exists name text;
alter table lake_silver.item_events
    add column if not exists scoring text,
    add column if not exists option_count bigint;
alter table lake_silver.exam_events add column if not exists exposure_max_rate double precision;
