"""Typed settings: one tree per process, read once at start-up.

Sources, later wins: built-in defaults, `.env` in the working directory, the generated
`<state_dir>/services.env` written by `dreamseed up` (S3 endpoint and credentials, generated secrets),
and the process environment. Files are read by python-dotenv; values are converted and checked by
msgspec against the field types. Nothing here runs at import time: call `Settings.load()` at
start-up (the CLI keeps it on the click context, the API on its app state, Dagster in its
resources) and pass the object down.

The tree: `Settings` holds the platform-wide fields (variable `DREAMSEED_<FIELD>`) and one
section per part that needs its own settings (a frozen dataclass, field `<section>`, variables
`DREAMSEED_<SECTION>_<FIELD>`). A new part adds one section class and one field on `Settings`.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from dotenv import dotenv_values

PREFIX = "DREAMSEED_"


class SettingsError(ValueError):
    """A setting has an invalid value; the message names its variable."""


def parse_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE pairs of a dotenv file (python-dotenv's syntax); {} when there is no file.
    Values are taken literally (no `${VAR}` expansion): a secret may contain `$`."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}


@dataclass(frozen=True, slots=True)
class CalibrationSettings:
    """Thresholds of the calibration loop (Dagster's `calibration` resource carries them)."""

    model: str = "2pl"
    #: Fewer responses than this and an item is not calibrated at all.
    min_item_responses: int = 200
    #: A pilot item's calibrated parameters are promoted once it has this many responses.
    pilot_promote_responses: int = 500
    #: Checks: parameters outside these bounds block promotion.
    a_min: float = 0.2
    a_max: float = 4.0
    b_min: float = -4.0
    b_max: float = 4.0
    c_max: float = 0.5
    #: Drift: root mean squared difference between the candidate's and the live item
    #: characteristic curve over theta ~ N(0, 1); larger blocks promotion.
    max_icc_rmsd: float = 0.05
    #: S-X2 needs complete response rows; fewer than this and fit is not computed.
    fit_min_persons: int = 200
    #: Optional lognormal prior (meanlog, sdlog) on slopes (MAP instead of ML for a); it helps
    #: small samples (see bench/calibration) at the price of shrinking slopes towards exp(meanlog).
    #: As a variable: `DREAMSEED_CALIBRATION_SLOPE_PRIOR=0,0.5`.
    slope_prior: tuple[float, float] | None = None
    standard_errors: bool = True
    tol: float = 1e-4
    max_iter: int = 500
    #: Linking of each free calibration to the live scale through the group's live items:
    #: stocking-lord, haebara, mean-sigma, mean-mean, or none (drift is then compared on the
    #: calibration's own N(0, 1) scale).
    linking: str = "stocking-lord"
    #: Fewer live anchors (after purification) than this and the group is not linked.
    min_link_anchors: int = 5

    def __post_init__(self) -> None:
        # names are matched in lower case (`2PL` and `2pl` are one model)
        object.__setattr__(self, "model", self.model.strip().lower())
        object.__setattr__(self, "linking", self.linking.strip().lower())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """What each process of `dreamseed serve --workers N` serves (the command sets them)."""

    #: Routers to mount (`users,exams`); empty: all of them.
    services: tuple[str, ...] = ()
    #: Run the outbox relay in the process.
    relay: bool = True


@dataclass(frozen=True, slots=True)
class TutorSettings:
    """The tutor (apis/tutor): its model, retrieval backend, timeouts, breaker and limits."""

    #: Any OpenAI-compatible chat-completions base URL (vLLM, llama.cpp's server, Ollama, a
    #: hosted API), e.g. http://127.0.0.1:8080/v1; empty: no model, the grounded fallback answers.
    model_url: str = ""
    model: str = ""
    model_key: str = ""
    #: An OpenAI-compatible /embeddings base URL: turns on hybrid (BM25 + dense) retrieval.
    embeddings_url: str = ""
    embeddings_model: str = ""
    #: Timeouts: opening the connection, until the first token, the whole answer.
    connect_timeout_ms: int = 2000
    first_token_timeout_ms: int = 10000
    total_timeout_ms: int = 60000
    #: The circuit breaker opens after this many failures in a row and half-opens after the TTL;
    #: its state lives in Redis (shared by the replicas) unless `breaker_shared` is false.
    breaker_threshold: int = 5
    breaker_ttl_seconds: int = 30
    breaker_shared: bool = True
    #: Cost and abuse limits: questions per student per minute, tokens per class per day.
    questions_per_minute: int = 10
    class_daily_tokens: int = 200_000
    #: Transcripts (tutor.conversations with their turns) idle longer than this are purged.
    retention_days: int = 365


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """Event consumers (`dreamseed consume NAME`) and the notification streams."""

    #: Streams are `<prefix><domain>` (the relay writes them); also prefixes wake-up channels.
    stream_prefix: str = "events."
    #: Entries a crashed consumer left pending are reclaimed after this long.
    claim_idle_ms: int = 30_000
    #: A consumer parks an event in its dead-letter stream after this many failed tries.
    max_deliveries: int = 3
    batch_size: int = 200
    block_ms: int = 1_000
    #: SSE: heartbeat comment interval, the client's reconnect delay, a stream's longest life.
    sse_heartbeat_seconds: float = 15.0
    sse_retry_ms: int = 2_000
    sse_max_seconds: float = 300.0
    #: `dreamseed consume` serves Prometheus metrics (lag, handled, dead letters) on this port.
    metrics_port: int = 0
    #: The notifications consumer's periodic sweep (assignments due soon, dead letters to
    #: admins) runs this often, in every member (they agree through PostgreSQL).
    sweep_seconds: float = 60.0
    #: "Due soon": an assignment due within this many hours reminds its students once.
    due_soon_hours: float = 24.0


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """Notifications by e-mail: the SMTP server, the digest and the queue (apis/notifications)."""

    #: The SMTP server; empty: mails are written to the consumer's log instead (labelled so).
    smtp_host: str = ""
    smtp_port: int = 25
    #: Implicit TLS (SMTPS, usually port 465), or STARTTLS after connecting (usually 587).
    use_tls: bool = False
    start_tls: bool = False
    #: Credentials (secrets: from the environment only); empty: no AUTH.
    username: str = ""
    password: str = ""
    sender: str = "DreamSeed <no-reply@dreamseed.local>"
    timeout_seconds: float = 10.0
    #: Mails wait this long in the queue; more than `digest_threshold` of a user's waiting at
    #: once are sent as one digest listing them.
    digest_window_seconds: float = 120.0
    digest_threshold: int = 3
    #: Tries per mail (transient SMTP errors are retried at once with backoff, then the mail
    #: waits `retry_seconds` and is tried again) before it is marked failed.
    max_attempts: int = 5
    retry_seconds: float = 60.0
    #: How often the sender looks for mails that are due.
    poll_seconds: float = 1.0
    #: Links in mails are this base URL + the notification's API path.
    link_base_url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class Settings:
    """All configuration of a DreamSeed process. Field `x` is read from `DREAMSEED_X`; field `y`
    of section `s` from `DREAMSEED_S_Y`."""

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
    # Network. `port_offset` shifts the local S3 server's ports (a second checkout beside the first).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_port: int = 8050
    dagster_port: int = 3000
    port_offset: int = 0
    environment: str = "development"
    # The SQL door's access token when given in the environment (else `dreamseed login`'s file).
    token: str = ""
    # The analytics service caches its answers in Redis (invalidated by event); off: every
    # request reads PostgreSQL (the bench's uncached baseline).
    analytics_cache: bool = True
    # Sections.
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    tutor: TutorSettings = field(default_factory=TutorSettings)
    realtime: RealtimeSettings = field(default_factory=RealtimeSettings)
    email: EmailSettings = field(default_factory=EmailSettings)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        """Build settings from defaults, `.env`, `<state_dir>/services.env` and the environment.

        Raises SettingsError naming the variable when a value does not fit its field."""
        env = os.environ if environ is None else environ
        base = cwd or Path.cwd()
        merged = parse_env_file(base / ".env")
        state_dir = base / env.get(
            PREFIX + "STATE_DIR", merged.get(PREFIX + "STATE_DIR", ".dreamseed")
        )
        merged |= parse_env_file(state_dir / "services.env")
        merged |= {k: v for k, v in env.items() if k.startswith(PREFIX)}
        return cls.from_mapping(merged, state_dir=state_dir)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str], state_dir: Path | None = None) -> Settings:
        """Settings from `DREAMSEED_*` values (unknown names are ignored)."""
        tree = _tree(values)
        try:
            settings = msgspec.convert(tree, cls, strict=False, dec_hook=_decode_path)
        except msgspec.ValidationError as exc:
            raise _named_error(exc, values) from None
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


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable of the tree: where its value goes and the field's type."""

    path: tuple[str, ...]
    hint: Any


@cache
def variables() -> dict[str, Variable]:
    """Every `DREAMSEED_*` variable the settings read, by name."""
    found: dict[str, Variable] = {}
    for name, hint in _hints(Settings).items():
        inner_hints = _hints(hint) if is_dataclass(hint) else {"": hint}
        for inner, inner_hint in inner_hints.items():
            variable = f"{PREFIX}{name}_{inner}".rstrip("_").upper()
            if variable in found:  # a section's field spelled like a top-level field
                raise TypeError(f"two settings would both read {variable}")
            found[variable] = Variable((name, inner) if inner else (name,), inner_hint)
    return found


def _hints(cls: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def _is_sequence(hint: Any) -> bool:
    options = typing.get_args(hint) if typing.get_origin(hint) is not tuple else (hint,)
    return any(typing.get_origin(option) is tuple for option in options)


def _tree(values: Mapping[str, str]) -> dict[str, Any]:
    """The nested mapping msgspec converts: sections as sub-mappings, sequences split on commas;
    an empty value leaves a non-text field at its default."""
    tree: dict[str, Any] = {}
    for name, variable in variables().items():
        raw = values.get(name)
        if raw is None or (raw.strip() == "" and variable.hint is not str):
            continue
        node = tree
        for part in variable.path[:-1]:
            node = node.setdefault(part, {})
        node[variable.path[-1]] = (
            [p.strip() for p in raw.split(",") if p.strip()] if _is_sequence(variable.hint) else raw
        )
    return tree


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(kind)


_EXPECTED = {
    "int": "must be an integer",
    "float": "must be a number",
    "bool": "must be true or false (or 1 / 0)",
}


def _named_error(exc: msgspec.ValidationError, values: Mapping[str, str]) -> SettingsError:
    """msgspec's `Expected `int`, got `str` - at `$.calibration.tol`` as the variable's name."""
    message = str(exc)
    where = re.search(r"at `\$\.([\w.]+)", message)
    if where is None:
        return SettingsError(f"invalid settings: {message}")
    name = PREFIX + where.group(1).replace(".", "_").upper()
    expected = re.match(r"Expected `(\w+)`", message)
    reason = _EXPECTED.get(expected.group(1), "") if expected else ""
    return SettingsError(
        f"{name} {reason or 'is invalid: ' + message.split(' - at ')[0]}, got {values.get(name)!r}"
    )
