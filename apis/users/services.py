"""Accounts and sessions over HTTP: registration, and sign-in, refresh and sign-out through the
one auth service (`core.sessions.AuthService`, on `AppState.auth`)."""

from __future__ import annotations

from apis.state import AppState
from apis.users.schemas import TokenPair, User
from core import accounts
from core.accounts import Account
from core.auth import Claims
from core.sessions import AuthService, Session


def _auth(state: AppState) -> AuthService:
    assert state.auth is not None, "the auth service starts with the app"
    return state.auth


def user(account: Account) -> User:
    return User(
        account.user_id, account.email, account.display_name, account.role, account.created_at
    )


def _pair(state: AppState, session: Session) -> TokenPair:
    assert session.refresh_token is not None
    return TokenPair(
        session.access_token,
        session.refresh_token,
        "Bearer",
        state.settings.access_token_minutes * 60,
        user(session.account),
    )


async def register(state: AppState, email: str, password: str, name: str, role: str) -> User:
    password_hash = await _auth(state).passwords.hash(password)
    async with state.pool.connection() as conn:
        return user(await accounts.create(conn, email, name, role, password_hash))


async def get_user(state: AppState, user_id: str) -> User | None:
    async with state.pool.connection() as conn:
        account = await accounts.by_id(conn, user_id)
    return user(account) if account else None


async def login(state: AppState, email: str, password: str, client: str) -> TokenPair:
    return _pair(state, await _auth(state).sign_in(email, password, client=client))


async def refresh(state: AppState, refresh_token: str) -> TokenPair:
    return _pair(state, await _auth(state).refresh(refresh_token))


async def logout(state: AppState, access: Claims, refresh_token: str | None) -> None:
    await _auth(state).sign_out(access, refresh_token)
