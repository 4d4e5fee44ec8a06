-- Learning Record Store (issue 15): xAPI 1.0.3 statements, their attachments, the State /
-- Activity Profile / Agent Profile documents and the Basic credentials LRS clients use.
-- lrs.* is written only by the LRS service (apis/lrs). The platform's own learning records
-- (apis/learning/records.py) are stored here too: one store, one event, one lake table.
-- Person columns (each a users.accounts user_id): user_id, issued_by. Columns holding personal
-- data of people without an account: actor_ifi, agent_ifi, related_agents, statement, content
-- (see docs/lrs.md for export/erasure).

create schema if not exists lrs;

-- Credentials issued per integration: key + secret (argon2 hash), xAPI scopes, revocable.
-- A teacher's credential is bound to one of her classes (class_id); an admin's may be unbound.
create table lrs.credentials (
    credential_id  uuid primary key,
    key            text not null unique,
    secret_hash    text not null,
    name           text not null check (length(name) between 1 and 200),
    scopes         text[] not null check (cardinality(scopes) >= 1),
    issued_by      uuid not null references users.accounts (user_id),
    class_id       uuid references classes.classes (class_id),
    created_at     timestamptz not null default now(),
    revoked_at     timestamptz
);
create index credentials_by_issuer on lrs.credentials (issued_by);

-- Statements as stored (the `statement` is what GET returns: id, stored, authority, version
-- filled in). `seq` orders them for paging; the filter columns are what the queries need.
create table lrs.statements (
    statement_id        uuid primary key,
    seq                 bigint generated always as identity unique,
    statement           jsonb not null check (jsonb_typeof(statement) = 'object'),
    actor_ifi           text not null,           -- canonical IFI of the actor (or group)
    agents              text[] not null,         -- actor and agent object (the agent filter)
    user_id             uuid references users.accounts (user_id),  -- the actor's account, if any
    verb                text not null,           -- short name (last segment of the verb IRI)
    verb_id             text not null,
    object_type         text not null,           -- 'lesson' (platform), 'activity', 'agent', ...
    object_id           text not null,
    activity_id         text,                    -- the object's activity IRI, if an activity
    registration        uuid,
    class_id            uuid,
    related_agents      text[] not null default '{}',
    related_activities  text[] not null default '{}',
    credential_id       uuid references lrs.credentials (credential_id),
    voided              boolean not null default false,
    voids               uuid,                    -- the target, for a voiding statement
    stored_at           timestamptz not null default now()
);
create index statements_by_user on lrs.statements (user_id, seq);
create index statements_by_actor on lrs.statements (actor_ifi, seq);
create index statements_agents on lrs.statements using gin (agents);
create index statements_by_verb on lrs.statements (verb_id, seq);
create index statements_by_activity on lrs.statements (activity_id, seq);
create index statements_by_object on lrs.statements (object_type, object_id);
create index statements_by_registration on lrs.statements (registration, seq)
    where registration is not null;
create index statements_by_class on lrs.statements (class_id, seq) where class_id is not null;
create index statements_by_stored on lrs.statements (stored_at);
create index statements_related_agents on lrs.statements using gin (related_agents);
create index statements_related_activities on lrs.statements using gin (related_activities);

-- Attachment payloads, by statement (a privacy erasure of a statement removes its files).
create table lrs.attachments (
    statement_id  uuid not null references lrs.statements (statement_id),
    sha2          text not null,
    content_type  text not null,
    content       bytea not null,
    primary key (statement_id, sha2)
);

-- State, Activity Profile and Agent Profile documents. Missing key parts are '' so the
-- primary key stays total. agent_ifi / user_id: whose document it is (erasure finds it).
create table lrs.documents (
    kind          text not null check (kind in ('state', 'activity_profile', 'agent_profile')),
    activity_id   text not null default '',
    agent_ifi     text not null default '',
    registration  text not null default '',
    document_id   text not null,
    user_id       uuid references users.accounts (user_id),
    content_type  text not null,
    content       bytea not null,
    etag          text not null,
    updated_at    timestamptz not null default now(),
    primary key (kind, activity_id, agent_ifi, registration, document_id)
);
create index documents_by_user on lrs.documents (user_id) where user_id is not null;
create index documents_by_agent on lrs.documents (agent_ifi) where agent_ifi <> '';

-- Activity definitions the LRS learned from statements (GET /xapi/activities).
create table lrs.activities (
    activity_id  text primary key,
    definition   jsonb not null default '{}',
    updated_at   timestamptz not null default now()
);

-- The platform's own records move into the LRS store (same ids, same statements).
insert into lrs.statements (statement_id, statement, actor_ifi, agents, user_id, verb, verb_id,
                            object_type, object_id, activity_id, class_id, related_agents,
                            related_activities, stored_at)
select s.statement_id,
       s.statement || jsonb_build_object('stored', to_jsonb(s.stored_at)),
       'account:http://dreamseed.invalid/accounts|' || s.user_id::text,
       array['account:http://dreamseed.invalid/accounts|' || s.user_id::text],
       s.user_id, s.verb, s.statement #>> '{verb,id}', s.object_type, s.object_id,
       s.statement #>> '{object,id}', s.class_id,
       array['account:http://dreamseed.invalid/accounts|' || s.user_id::text],
       array[s.statement #>> '{object,id}'],
       s.stored_at
from learning.statements s
order by s.stored_at;
drop table learning.statements;
