-- Issue 18: the calibration provenance the item-parameter marts read, added to
-- content.item_parameters.added.v1 as optional fields (backward compatible; parameters recorded
-- before have them null) so that stg_content__item_parameters reads the lake, not OLTP. The
-- silver table item_events gains the columns on its next append (union by name); the PostgreSQL
-- copy gains them here (a copy takes the columns both sides have).
--   source_snapshot_id  Iceberg snapshot of the response history the calibration read
--   n_responses         responses to the item the calibration used
--   role                operational | pilot
--   se_a, se_b          standard errors of a and b
--   sx2, sx2_df, sx2_p  S-X2 item fit: statistic, degrees of freedom, p-value
alter table lake_silver.item_events
    add column if not exists source_snapshot_id text,
    add column if not exists n_responses bigint,
    add column if not exists role text,
    add column if not exists se_a double precision,
    add column if not exists se_b double precision,
    add column if not exists sx2 double precision,
    add column if not exists sx2_df double precision,
    add column if not exists sx2_p double precision;
