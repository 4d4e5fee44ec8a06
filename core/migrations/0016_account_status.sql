-- Account administration: an account can be deactivated (it can no longer sign in or refresh,
-- and its tokens are revoked); the row stays, since classes, items and attempts refer to it.
alter table users.accounts add column deactivated_at timestamptz;
