-- Lake shipping of policy decisions (lake/decisions.py): every decision row records the id of the
-- transaction that wrote it, so the lake copies decisions exactly once with an xid8 horizon, like
-- the outbox. `decided_at` is not a safe watermark: it is set by the application before an
-- asynchronous, retried batch write, so rows commit out of decided_at order (minutes late during
-- an outage). Existing rows get this migration's transaction id (all final afterwards).
alter table governance.decisions
    add column txid xid8 not null default pg_current_xact_id();
create index decisions_by_txid on governance.decisions (txid);
