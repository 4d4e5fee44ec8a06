-- Notifications by e-mail (issue 17): the mail queue, quiet hours, due-soon reminders.
-- Written only by the notifications consumer (queue, reminders) and the notifications service
-- (quiet hours). Person columns: user_id (the recipient).

-- One mail to send per notification whose recipient lets the kind through by e-mail, queued in
-- the consumer's transaction with the notification (so exactly once per notification), then
-- claimed (`sending`, attempts + 1, committed before the SMTP conversation) and marked `sent`
-- with its Message-ID (or back to `queued` after a transient failure; `failed` when hopeless).
-- `notification_id` is the in-app notification's id, or a new one when in-app is turned off.
create table notifications.emails (
    notification_id  uuid primary key,
    user_id          uuid not null references users.accounts (user_id),
    kind             text not null,
    title            text not null check (length(title) between 1 and 300),
    body             text not null default '' check (length(body) <= 2000),
    link             text,
    source_event_id  uuid not null,
    status           text not null default 'queued'
                     check (status in ('queued', 'sending', 'sent', 'failed')),
    attempts         integer not null default 0 check (attempts >= 0),
    due_at           timestamptz not null,  -- not before (digest window, quiet hours, retry)
    claimed_at       timestamptz,
    sent_at          timestamptz,
    message_id       text,  -- one Message-ID for every row a digest carried
    last_error       text check (length(last_error) <= 2000),
    created_at       timestamptz not null default now(),
    unique (user_id, kind, source_event_id),
    check ((status = 'sent') = (sent_at is not null))
);
create index emails_due on notifications.emails (due_at) where status = 'queued';
create index emails_by_user on notifications.emails (user_id, status);

-- Per user: no e-mail between `starts` and `ends` (local time in `time_zone`, may wrap past
-- midnight); mails due meanwhile wait until it ends. No row: no quiet hours.
create table notifications.quiet_hours (
    user_id     uuid primary key references users.accounts (user_id),
    starts      time not null,
    ends        time not null,
    time_zone   text not null check (length(time_zone) between 1 and 64),
    updated_at  timestamptz not null default now(),
    check (starts <> ends)
);

-- Assignments whose students were reminded that they are due soon (once per assignment; the
-- notifications' own unique key makes it once per student too).
create table notifications.due_reminders (
    assignment_id  uuid primary key,
    reminded_at    timestamptz not null default now()
);

-- How far a periodic sweep read a stream (e.g. a consumer's dead letters told to admins).
create table realtime.cursors (
    name        text primary key,
    position    text not null,
    updated_at  timestamptz not null default now()
);
