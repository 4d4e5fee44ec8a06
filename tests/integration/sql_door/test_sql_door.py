"""`dreamseed sql`, governed: authentication, masking, row/table decisions, the decision log, and
a locked session from which an analyst cannot read the pseudonymisation key or unmasked data."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import duckdb
import msgspec
import psycopg
import pytest
from click.testing import CliRunner, Result

from cli.login import login, logout, resolve_subject
from cli.sql import sql
from core.auth import hash_password, issue_token
from core.ids import new_id
from core.settings import Settings
from lake.catalog import load_catalog
from lake.ingest import ingest_outbox
from lake.pseudonym import pseudonymize
from lake.tables import OUTBOX_EVENTS, identifier
from tests.integration.lake.conftest import completed_event, write_events

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    name: str
    password: str
    role: str


@pytest.fixture
def door(settings: Settings, tmp_path: Path) -> Settings:
    """The scratch database, with a private state folder (the `dreamseed login` session file)."""
    assert settings.pseudonym_key, "DREAMSEED_PSEUDONYM_KEY is empty: run `dreamseed up`"
    return replace(settings, state_dir=tmp_path / "state")


def _person(settings: Settings, role: str) -> Person:
    tag = secrets.token_hex(4)
    p = Person(
        str(new_id()), f"{role}-{tag}@school.test", f"Ada {role.title()} {tag}", f"pw-{tag}-x", role
    )
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, %s, %s, %s)",
            (p.user_id, p.email, p.name, p.role, hash_password(p.password)),
        )
    return p


def _token(settings: Settings, person: Person, minutes: int = 15) -> str:
    token, _ = issue_token(
        settings.jwt_secret, person.user_id, person.role, "access", timedelta(minutes=minutes)
    )
    return token


def _run(
    settings: Settings, args: list[str], token: str | None, stdin: str | None = None
) -> Result:
    env = {"DREAMSEED_TOKEN": token} if token else {"DREAMSEED_TOKEN": ""}
    return CliRunner().invoke(sql, args, obj=settings, env=env, input=stdin)


def _json(result: Result) -> list[dict[str, object]]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def _pseudonym(settings: Settings, value: str) -> str:
    return hashlib.sha256(f"{settings.pseudonym_key}|{value}".encode()).hexdigest()


def _decisions(settings: Settings, subject_id: str) -> list[tuple[str, str, bool, str]]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select action, coalesce(resource->>'id', ''), allowed, reason"
            " from governance.decisions where subject_id = %s order by decided_at",
            (subject_id,),
        ).fetchall()
    return [(str(a), str(r), bool(al), str(re)) for a, r, al, re in rows]


def test_unauthenticated_and_bad_tokens_are_refused(door: Settings) -> None:
    student = _person(door, "student")
    cases = {
        None: "not signed in",
        "not-a-jwt": "invalid token",
        _token(replace(door, jwt_secret="another-secret-" + "x" * 20), student): "invalid token",
        _token(door, student, minutes=-1): "expired",
    }
    for token, message in cases.items():
        result = _run(door, ["select 1"], token)
        assert result.exit_code == 2, result.output
        assert message in result.output and "dreamseed login" in result.output, result.output


def test_analyst_gets_masked_pii_admin_gets_clear_and_both_are_logged(door: Settings) -> None:
    student = _person(door, "student")
    analyst = _person(door, "analyst")
    admin = _person(door, "admin")
    query = ["--format", "json", "select * from users.accounts"]

    masked = {r["user_id"]: r for r in _json(_run(door, query, _token(door, analyst)))}
    row = masked[_pseudonym(door, student.user_id)]
    assert row == {
        "user_id": _pseudonym(door, student.user_id),
        "email": "***",
        "display_name": "***",
        "role": "student",
        "created_at": row["created_at"],
        "deactivated_at": None,
    }
    assert student.user_id not in json.dumps(masked) and student.email not in json.dumps(masked)

    clear = {r["user_id"]: r for r in _json(_run(door, query, _token(door, admin)))}
    assert clear[student.user_id]["email"] == student.email
    assert clear[student.user_id]["display_name"] == student.name
    assert "password_hash" not in clear[student.user_id]  # secrets are dropped for everyone

    for person in (analyst, admin):
        assert _decisions(door, person.user_id) == [
            ("sql.query.run", "", True, "allowed"),
            ("sql.query.run", "users.accounts", True, "allowed"),
        ]


def test_teachers_and_students_are_refused_and_logged(door: Settings) -> None:
    for role in ("teacher", "student"):
        person = _person(door, role)
        result = _run(door, ["select * from users.accounts"], _token(door, person))
        assert result.exit_code == 3, result.output
        assert f"role {role} may not use the SQL door" in result.output
        assert _decisions(door, person.user_id) == [
            ("sql.query.run", "", False, "action_not_permitted")
        ]


def test_unregistered_table_is_denied_and_logged(door: Settings) -> None:
    analyst = _person(door, "analyst")
    result = _run(
        door, ["select * from users.accounts a join users.sessions s using (user_id)"],
        _token(door, analyst),
    )  # fmt: skip
    assert result.exit_code == 3 and "users.sessions (unclassified_table)" in result.output
    assert ("sql.query.run", "users.sessions", False, "unclassified_table") in _decisions(
        door, analyst.user_id
    )


def test_role_comes_from_the_account_not_the_token(door: Settings) -> None:
    analyst = _person(door, "analyst")
    forged, _ = issue_token(
        door.jwt_secret, analyst.user_id, "admin", "access", timedelta(minutes=5)
    )
    rows = _json(_run(door, ["--format", "json", "select * from users.accounts"], forged))
    assert {r["email"] for r in rows} == {"***"}


def test_the_callers_lake_key_reaches_the_policy(door: Settings) -> None:
    """Marts built from the lake know people by key only (own_key rows): the door's subject
    carries the caller's key, as the dashboards' does, or no own row could ever match."""
    for role in ("analyst", "teacher"):
        person = _person(door, role)
        subject = resolve_subject(door, _token(door, person))
        assert subject.role == role
        assert subject.user_key == pseudonymize(door.pseudonym_key, person.user_id)


def test_login_stores_a_short_lived_token_and_logout_revokes_it(door: Settings) -> None:
    analyst = _person(door, "analyst")
    runner = CliRunner()
    wrong = runner.invoke(
        login, ["--email", analyst.email, "--password-stdin"], obj=door, input="nope\n"
    )
    assert wrong.exit_code == 1 and "e-mail or password is wrong" in wrong.output
    ok = runner.invoke(
        login, ["--email", analyst.email, "--password-stdin"], obj=door,
        input=analyst.password + "\n",
    )  # fmt: skip
    assert ok.exit_code == 0 and "(analyst)" in ok.output, ok.output
    session = door.state_dir / "sql-session.json"
    assert session.stat().st_mode & 0o077 == 0
    token = json.loads(session.read_text())["access_token"]
    assert _run(door, ["select 42 as n"], None).exit_code == 0  # the stored token is used
    out = runner.invoke(logout, [], obj=door)
    assert out.exit_code == 0 and not session.exists()
    again = _run(door, ["select 42 as n"], token)
    assert again.exit_code == 2 and "revoked" in again.output


def test_lake_tables_are_masked_and_joinable_with_pseudonymous_keys(door: Settings) -> None:
    student = _person(door, "student")
    event = msgspec.structs.replace(completed_event(), student_id=student.user_id)
    write_events(door, [event])
    ingest_outbox(door)
    analyst = _person(door, "analyst")
    admin = _person(door, "admin")
    query = (
        "select c.student_id, a.email, o.payload is null as no_payload"
        " from attempts_completed c join users.accounts a on a.user_id = c.student_id"
        " join outbox_events o using (event_id)"
        f" where c.attempt_id = '{event.attempt_id}'"
    )
    with pytest.raises(AssertionError):  # analysts have no payload column (raw identifiers)
        _json(_run(door, ["--format", "json", query], _token(door, analyst)))
    query = query.replace(", o.payload is null as no_payload", "")
    assert _json(_run(door, ["--format", "json", query], _token(door, analyst))) == [
        {"student_id": _pseudonym(door, student.user_id), "email": "***"}
    ]
    assert _json(_run(door, ["--format", "json", query], _token(door, admin))) == [
        {"student_id": student.user_id, "email": student.email}
    ]
    assert ("sql.query.run", "lake.attempts_completed", True, "allowed") in _decisions(
        door, analyst.user_id
    )


def _lake_files(settings: Settings) -> tuple[str, str]:
    table = load_catalog(settings).load_table(identifier(settings, OUTBOX_EVENTS))
    metadata = table.metadata_location
    data_file = next(iter(table.scan().plan_files())).file.file_path
    return metadata, data_file


def test_an_analyst_cannot_read_the_key_or_unmasked_data_by_any_sql(door: Settings) -> None:
    student = _person(door, "student")
    write_events(door, [msgspec.structs.replace(completed_event(), student_id=student.user_id)])
    ingest_outbox(door)
    analyst = _person(door, "analyst")
    metadata, data_file = _lake_files(door)
    attacks = [
        "select * from users.accounts",
        "select * from attempts_completed",
        "select * from lake.outbox_events",
        "select * from duckdb_views()",
        "select * from duckdb_tables()",
        "select function_name, macro_definition from duckdb_functions()"
        " where macro_definition is not null",
        "select * from duckdb_variables()",
        "select * from duckdb_secrets()",
        "select name, value from duckdb_settings()",
        "select * from duckdb_databases()",
        "select * from duckdb_schemas()",
        "select getvariable('key')",
        f"select * from iceberg_scan('{metadata}')",
        f"select * from read_parquet('{data_file}')",
        f"select * from read_text('{metadata}')",
        "select * from read_csv('/etc/passwd')",
        "select * from __dreamseed_raw.outbox_events",
        "select * from __dreamseed_source",
        "select * from __empty_outbox_events",
        f"attach 'dbname={door.database_url}' as pg (type postgres)",
        "set enable_external_access = true",
        "reset enable_external_access",
        "set lock_configuration = false",
        "set python_enable_replacements = true",
        "load httpfs",
        "install postgres",
        "copy (select 1) to '/tmp/dreamseed-leak.csv'",
        "create secret leak (type s3, key_id 'a', secret 'b')",
        "select * from door",  # a Python object in the CLI's frames
    ]
    result = _run(
        door, ["--format", "csv"], _token(door, analyst), stdin="".join(f"{a};\n" for a in attacks)
    )
    output = result.output
    assert result.exit_code == 1, output  # the attacks fail...
    forbidden = {
        "pseudonym key": door.pseudonym_key,
        "student id": student.user_id,
        "e-mail": student.email,
        "name": student.name,
        "S3 secret": door.s3_secret_key,
        "JWT secret": door.jwt_secret,
    }
    for what, value in forbidden.items():
        assert value and value not in output, f"the {what} leaked"
    # ...while the governed tables answer, masked.
    assert _pseudonym(door, student.user_id) in output
    assert "disabled by configuration" in output  # file/S3 access is off
    assert "configuration has been locked" in output
    assert not Path("/tmp/dreamseed-leak.csv").exists()


def test_export_gives_a_plain_duckdb_file_with_only_what_the_policy_allows(
    door: Settings, tmp_path: Path
) -> None:
    student = _person(door, "student")
    analyst = _person(door, "analyst")
    target = tmp_path / "analyst.duckdb"
    result = _run(door, ["--export", str(target)], _token(door, analyst))
    assert result.exit_code == 0, result.output
    assert f"duckdb {target}" in result.stdout
    with duckdb.connect(str(target), read_only=True) as plain:  # a plain DuckDB session
        rows = plain.execute(
            "select user_id, email, display_name from users.accounts where user_id = ?",
            [_pseudonym(door, student.user_id)],
        ).fetchall()
        columns = [c[0] for c in plain.execute("describe users.accounts").fetchall()]
        dumped = json.dumps(plain.execute("select * from users.accounts").fetchall(), default=str)
    assert rows == [(_pseudonym(door, student.user_id), "***", "***")]
    assert "password_hash" not in columns
    assert student.email not in dumped and student.user_id not in dumped
    assert door.pseudonym_key not in target.read_bytes().decode("latin-1")
    again = _run(door, ["--export", str(target)], _token(door, analyst))
    assert again.exit_code != 0 and "exists" in again.output
    assert ("sql.query.run", "users.accounts", True, "allowed") in _decisions(door, analyst.user_id)
