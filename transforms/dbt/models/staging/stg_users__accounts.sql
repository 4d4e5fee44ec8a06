-- Accounts from the lake, by pseudonymous key and without personal data (e-mail, name and
-- password hash never reach the lake): the role as of the latest users.user.registered /
-- role_changed event (lake_silver.user_events); accounts registered before the outbox recorded
-- them come from the latest daily snapshot lake_silver.dim_accounts_snapshots.
with events as (
    select
        user_key,
        role,
        event_type like 'users.user.registered.%' as is_registration,
        registered_at,
        occurred_at,
        event_seq
    from {{ source('lake_silver', 'user_events') }}
    where user_key is not null
        and (event_type like 'users.user.registered.%' or event_type like 'users.user.role_changed.%')
),

folded as (
    select
        user_key,
        {{ latest_value('role') }} as role,
        coalesce(min(registered_at) filter (where is_registration), min(occurred_at)) as created_at
    from events
    group by user_key
),

snapshot as (
    select user_key, role, created_at
    from {{ source('lake_silver', 'dim_accounts_snapshots') }}
    where snapshot_date = (
        select max(snapshot_date) from {{ source('lake_silver', 'dim_accounts_snapshots') }}
    )
),

accounts as (
    select
        f.user_key,
        coalesce(f.role, s.role) as role,
        coalesce(s.created_at, f.created_at) as created_at
    from folded as f
    left join snapshot as s on s.user_key = f.user_key
    union all
    select s.user_key, s.role, s.created_at from snapshot as s
    where not exists (select 1 from folded as f where f.user_key = s.user_key)
),

renamed as (
    select
        user_key,
        role as user_role,
        role = 'student' as is_student,
        role = 'teacher' as is_teacher,
        created_at
    from accounts
)

select * from renamed
