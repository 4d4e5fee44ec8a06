"""Accounts and sessions over HTTP, through the one auth service (`core.sessions.AuthService`, on
`AppState.auth`): registration (teachers as the policy data allows), sign-in, refresh, sign-out,
and account administration (the routes' policy guard has decided before these run)."""

from __future__ import annotations

from apis.state import AppState
from apis.users.schemas import TokenPair, User
from core.accounts import Account
from core.auth import Claims
from core.errors import Forbidden
from core.sessions import AuthService, Session
from governance import REGISTRATION, registration_input


def _auth(state: AppState) -> AuthService:
    assert state.auth is not None, "the auth service starts with the app"
    return state.auth


def user(account: Account) -> User:
    return User(
        account.user_id,
        account.email,
        account.display_name,
        account.role,
        account.created_at,
        account.deactivated_at,
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


REGISTRATION_REFUSED = {
    "teacher_registration_closed": "teachers cannot register themselves here; ask an"
    " administrator of the school for a teacher account",
}


async def register(state: AppState, email: str, password: str, name: str, role: str) -> User:
    domain = email.rsplit("@", 1)[-1].lower()
    decision = await state.policy.decide(
        REGISTRATION, registration_input(role, domain), "users.account.create"
    )
    if not decision.allowed:
        reason = REGISTRATION_REFUSED.get(decision.reason, decision.reason)
        raise Forbidden(f"registering as {role} is not permitted: {reason}")
    return user(await _auth(state).create_account(email, password, name, role))


async def get_user(state: AppState, user_id: str) -> User | None:
    account = await _auth(state).get_account(user_id)
    return user(account) if account else None


async def create_user(state: AppState, email: str, password: str, name: str, role: str) -> User:
    return user(await _auth(state).create_account(email, password, name, role))


async def list_users(
    state: AppState, role: str | None, active: bool | None, after: str | None, limit: int
) -> list[User]:
    found = await _auth(state).list_accounts(role=role, active=active, after=after, limit=limit)
    return [user(account) for account in found]


async def deactivate(state: AppState, user_id: str) -> User:
    return user(await _auth(state).deactivate(user_id))


async def set_role(state: AppState, user_id: str, role: str) -> User:
    return user(await _auth(state).set_role(user_id, role))


async def login(state: AppState, email: str, password: str, client: str) -> TokenPair:
    return _pair(state, await _auth(state).sign_in(email, password, client=client))


async def refresh(state: AppState, refresh_token: str) -> TokenPair:
    return _pair(state, await _auth(state).refresh(refresh_token))


async def logout(state: AppState, access: Claims, refresh_token: str | None) -> None:
    await _auth(state).sign_out(access, refresh_token)
