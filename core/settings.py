"""Typed settings, read once at start-up.

Sources, later wins: built-in defaults, `.env` in the working directory, the generated
`<state_dir>/services.env` written by `dreamseed up` (S3 endpoint and credentials, generated secrets),
and the process environment. Every variable is prefixed `DREAMSEED_`. Nothing here runs at import
time: call `Settings.load()` at start-up and pass the object down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PREFIX = "DREAMSEED_"


def parse_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines; blank lines and `#` comments are ignored, quotes are stripped."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True, slots=True)
class Settings:
    """All configuration of a DreamSeed process. Field `x` is read from `DREAMSEED_X`."""

    state_dir: Path = Path(".dreamseed")
    database_url: str = "postgresql://postgres@127.0.0.1:5432/dreamseed"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # S3: when s3_endpoint is empty the lake lives in a local directory (the embedded default).
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    lake_bucket: str = "dreamseed-lake"
    lake_local_dir: Path = Path(".dreamseed/lake")
    lake_namespace: str = "dreamseed"
    # Media (lesson/item/submission files under media/<namespace>/ in the bucket): lifetimes of
    # the presigned upload and download URLs, and how long past its upload URL an unfinished
    # upload is kept before the sweep removes it.
    media_upload_seconds: int = 900
    media_download_seconds: int = 300
    media_sweep_grace_seconds: int = 600
    # Secrets: generated into services.env by `dreamseed up`; never committed.
    jwt_secret: str = ""
    pseudonym_key: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    # Password hashing threads per process (0: the cores minus one, at least one) and how many
    # password checks may wait for them before sign-in answers 503 (core.passwords).
    password_workers: int = 0
    password_queue_limit: int = 64
    # Failed sign-ins allowed per sliding window (core.login_throttle): per account and client
    # address, per client address (a school behind one NAT address shares it), per account from
    # clients it never signed in from; a client stays known for `login_known_client_days`.
    login_window_seconds: int = 900
    login_failures_per_account_client: int = 5
    login_failures_per_client: int = 100
    login_failures_per_account: int = 20
    login_known_client_days: int = 30
    # Policy: in-process Rego bundle unless opa_url names a remote OPA server.
    opa_url: str = ""
    policy_dir: Path = Path(__file__).resolve().parent.parent / "governance"
    # Rate limits per minute.
    rate_limit_per_user: int = 600
    rate_limit_per_ip: int = 1200
    # Network.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_port: int = 8050
    dagster_port: int = 3000
    environment: str = "development"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
        """Build settings from defaults, `.env`, `<state_dir>/services.env` and the environment."""
        env = dict(os.environ if environ is None else environ)
        base = cwd or Path.cwd()
        merged: dict[str, str] = {}
        merged.update(parse_env_file(base / ".env"))
        state_dir = Path(
            env.get(PREFIX + "STATE_DIR", merged.get(PREFIX + "STATE_DIR", ".dreamseed"))
        )
        if not state_dir.is_absolute():
            state_dir = base / state_dir
        merged.update(parse_env_file(state_dir / "services.env"))
        merged.update({k: v for k, v in env.items() if k.startswith(PREFIX)})
        return cls.from_mapping(merged, state_dir=state_dir)

    @classmethod
    def from_mapping(cls, values: dict[str, str], state_dir: Path | None = None) -> Settings:
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = values.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            kwargs[f.name] = _coerce(f.type, raw, f.name)
        settings = cls(**kwargs)
        if state_dir is not None:
            settings = replace(settings, state_dir=state_dir)
        if PREFIX + "LAKE_LOCAL_DIR" not in values:
            settings = replace(settings, lake_local_dir=settings.state_dir / "lake")
        return settings

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_endpoint)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in SQLAlchemy form (pyiceberg's SqlCatalog, Dagster storage)."""
        return self.database_url.replace("postgresql://", "postgresql+psycopg://", 1)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _coerce(type_name: Any, raw: str, name: str) -> Any:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{name.upper()} must be an integer, got {raw!r}") from exc
    return raw
