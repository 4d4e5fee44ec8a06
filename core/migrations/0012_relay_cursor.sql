-- The outbox relay keeps a cursor instead of marking every row it published.
--
-- Before, each published row was UPDATEd (published_at = now()). That touched every outbox row a
-- second time: a new row version, an entry in each of the table's four indexes (the partial index
-- on published_at rules out HOT updates) and a dead tuple for autovacuum, doubling the outbox's
-- share of the WAL that every answer's commit waits on. Now the relay reads in (txid, event_seq)
-- order below the transaction-id horizon, as the lake ingest does (migration 0001), and moves one
-- cursor row per batch.
create table events.relay_cursors (
    relay      text primary key,
    txid       xid8 not null,    -- the last row published, in (txid, event_seq) order
    event_seq  bigint not null,
    moved_at   timestamptz not null default now()
) with (fillfactor = 50);       -- room for HOT updates of the one row

-- Start just before the first row the old relay had not published (rows after it that it had
-- published go out again: delivery is at least once and consumers drop repeated event ids).
insert into events.relay_cursors (relay, txid, event_seq)
select 'redis-streams', coalesce(last.txid, '0'::xid8), coalesce(last.event_seq, 0)
from (select 1) as one
left join lateral (
    select o.txid, o.event_seq
    from events.outbox o
    where not exists (select 1 from events.outbox u where u.published_at is null)
       or (o.txid, o.event_seq) < (
            select u.txid, u.event_seq from events.outbox u
            where u.published_at is null order by u.txid, u.event_seq limit 1)
    order by o.txid desc, o.event_seq desc
    limit 1
) as last on true;

create index outbox_by_position on events.outbox (txid, event_seq);
drop index events.outbox_by_txid;  -- a prefix of the new index: the lake's horizon scans use it
drop index events.outbox_unpublished;
alter table events.outbox drop column published_at;
