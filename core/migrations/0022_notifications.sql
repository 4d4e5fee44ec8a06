-- Real-time path (issue 17): event consumers and notifications.
-- realtime.processed makes each consumer's effect happen once per event (core/consumers.py).
-- notifications.* is written only by the notifications consumer and the notifications service.
-- Person columns: user_id (the recipient).

create schema if not exists realtime;

create table realtime.processed (
    consumer      text not null,
    event_id      uuid not null,
    processed_at  timestamptz not null default now(),
    primary key (consumer, event_id)
);

create schema if not exists notifications;

-- One notification for one user, made by a rule from one event (so at most one per rule, user and
-- event). `seq` orders a user's notifications for the SSE stream's Last-Event-ID.
create table notifications.notifications (
    notification_id  uuid primary key,
    seq              bigint generated always as identity,
    user_id          uuid not null references users.accounts (user_id),
    kind             text not null,
    title            text not null check (length(title) between 1 and 300),
    body             text not null default '' check (length(body) <= 2000),
    link             text,  -- the API path of what it is about
    source_event_id  uuid not null,
    created_at       timestamptz not null default now(),
    read_at          timestamptz,
    unique (user_id, kind, source_event_id)
);
create index notifications_by_user on notifications.notifications (user_id, seq);
create index notifications_unread on notifications.notifications (user_id) where read_at is null;

-- Per user, kind and channel: off when a row says so (no row: on).
create table notifications.preferences (
    user_id     uuid not null references users.accounts (user_id),
    kind        text not null,
    channel     text not null check (channel in ('in_app', 'email')),
    enabled     boolean not null,
    updated_at  timestamptz not null default now(),
    primary key (user_id, kind, channel)
);
