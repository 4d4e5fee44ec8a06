-- Learning service (issue 14): a teacher's courses -> units -> lessons (Markdown + attachments,
-- versioned, published by pinning a version), courses assigned to classes, media objects on S3
-- (presigned uploads, verified before they count) and learning records (xAPI statements).
-- learning.* is written only by the learning service. Person columns (each a users.accounts
-- user_id, named as lake.pseudonym.PERSON_FIELDS does): owner_id, created_by, user_id.

create schema if not exists learning;

create table learning.courses (
    course_id    uuid primary key,
    owner_id     uuid not null references users.accounts (user_id),
    title        text not null check (length(title) between 1 and 200),
    description  text not null default '' check (length(description) <= 5000),
    archived     boolean not null default false,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index courses_by_owner on learning.courses (owner_id, created_at);

-- Which classes see a course (its teacher assigns it; a class sees only assigned courses).
create table learning.course_classes (
    course_id    uuid not null references learning.courses (course_id),
    class_id     uuid not null references classes.classes (class_id),
    assigned_at  timestamptz not null default now(),
    primary key (course_id, class_id)
);
create index course_classes_by_class on learning.course_classes (class_id);

create table learning.units (
    unit_id     uuid primary key,
    course_id   uuid not null references learning.courses (course_id),
    title       text not null check (length(title) between 1 and 200),
    position    integer not null check (position >= 0),
    created_at  timestamptz not null default now(),
    unique (course_id, position)
);

-- The current (draft) state of a lesson; `published_version` pins what students see (null: not
-- published). Every edit is a new immutable row in lesson_versions, as for items.
create table learning.lessons (
    lesson_id          uuid primary key,
    unit_id            uuid not null references learning.units (unit_id),
    course_id          uuid not null references learning.courses (course_id),
    owner_id           uuid not null references users.accounts (user_id),
    position           integer not null check (position >= 0),
    title              text not null check (length(title) between 1 and 200),
    body               text not null check (length(body) <= 200000),
    attachments        uuid[] not null default '{}',
    version            integer not null default 1 check (version >= 1),
    published_version  integer check (published_version between 1 and version),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    unique (unit_id, position)
);
create index lessons_by_course on learning.lessons (course_id);

create table learning.lesson_versions (
    lesson_id    uuid not null references learning.lessons (lesson_id),
    version      integer not null check (version >= 1),
    title        text not null,
    body         text not null,
    attachments  uuid[] not null default '{}',
    created_by   uuid not null references users.accounts (user_id),
    created_at   timestamptz not null default now(),
    primary key (lesson_id, version)
);

-- Media objects in the bucket under media/. A row is `pending` from the moment the API issued a
-- presigned PUT until finalise has checked the stored object's size, content type and SHA-256
-- against what was declared (`ready`); a mismatch deletes the object and the row. Pending rows
-- past `upload_expires_at` (plus a grace period) are swept with their objects by a schedule.
-- `holder_type`/`holder_id` name what holds the file: its rights decide who may download it.
create table learning.media (
    media_id           uuid primary key,
    user_id            uuid not null references users.accounts (user_id),  -- the uploader
    holder_type        text not null check (holder_type in ('lesson', 'item', 'submission')),
    holder_id          uuid not null,
    kind               text not null check (kind in ('image', 'audio', 'video', 'pdf')),
    content_type       text not null,
    size_bytes         bigint not null check (size_bytes > 0),
    sha256             text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    filename           text not null check (length(filename) between 1 and 255),
    object_key         text not null unique,
    status             text not null default 'pending' check (status in ('pending', 'ready')),
    created_at         timestamptz not null default now(),
    upload_expires_at  timestamptz not null,
    finalised_at       timestamptz,
    check ((status = 'ready') = (finalised_at is not null))
);
create index media_by_holder on learning.media (holder_type, holder_id);
create index media_pending on learning.media (upload_expires_at) where status = 'pending';

-- Learning records: xAPI statements as the LRS will store them (issue 15), written today by the
-- platform's own content through one internal function (apis/learning/records.py).
create table learning.statements (
    statement_id  uuid primary key,
    user_id       uuid not null references users.accounts (user_id),  -- the xAPI actor
    verb          text not null,
    object_type   text not null,
    object_id     text not null,
    class_id      uuid,
    statement     jsonb not null check (jsonb_typeof(statement) = 'object'),
    stored_at     timestamptz not null default now()
);
create index statements_by_user on learning.statements (user_id, stored_at);
create index statements_by_object on learning.statements (object_type, object_id);
