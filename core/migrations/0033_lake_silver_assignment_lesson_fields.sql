-- Issue 18 (one lineage): the assignment-completion mart reads assignments from the lake, so an
-- assignment's target list is in its event. assignments.assignment.created.v1 gained the optional
-- field student_ids (the listed students; null = the whole class, and in events recorded
-- before); the lake keeps them only as pseudonyms, the list column student_keys
-- (lake.pseudonym.PERSON_FIELDS). The silver table gains the column on its next append (union
-- by name); the PostgreSQL copy gains it here (a copy takes the columns both sides have).
alter table lake_silver.assignment_events add column if not exists student_keys text[];
