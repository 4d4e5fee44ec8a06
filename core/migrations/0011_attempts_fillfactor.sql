-- Every answer updates its attempt row (position, current item, θ, SE), none of them indexed
-- columns. With free room on the row's page PostgreSQL makes that a HOT update: the new row
-- version stays on the page and none of the three indexes gets a new entry. At the default
-- fillfactor of 100 the pages are packed full by inserts, so most updates were not HOT.
alter table exams.attempts set (fillfactor = 70);
