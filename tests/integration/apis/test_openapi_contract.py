"""The OpenAPI description tells the truth: schemathesis (`--checks all`) against a real server
on real PostgreSQL and Redis, as a teacher and as a student, finds no server error, no response
that breaks the schema, no undocumented status or header, no accepted invalid input.

Bounded: the teacher's run covers every operation's boundaries and negative cases (coverage
phase) and fuzzes; the student's run fuzzes. Both run at once against one server whose rate
limits are raised for the run. Settings that are not flags live in tests/support/schemathesis.toml;
tests/support/schemathesis_hooks.py signs a fresh token per case (logout revokes the one it is
sent with) and generates valid CSV imports.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from apis.app import create_app
from core.settings import Settings
from tests.support.servers import serve_in_thread

ROOT = Path(__file__).resolve().parents[3]
SUPPORT = ROOT / "tests" / "support"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
RUN_SECONDS = 540
# role -> (phases, examples per operation)
RUNS = {"teacher": ("examples,coverage,fuzzing", 5), "student": ("examples,fuzzing", 10)}


def _account(client: httpx.Client, role: str) -> str:
    email = f"{role}-{secrets.token_hex(4)}@contract.test"
    password = "contract " + secrets.token_hex(8)
    reply = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["user_id"])


def _command(url: str, phases: str, examples: int) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(SUPPORT / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{url}/schema/openapi.json",
        "--checks",
        "all",
        "--phases",
        phases,
        "--max-examples",
        str(examples),
        "--seed",
        "20261202",
        "--generation-database",
        "none",
        # The API refuses NUL in every string (PostgreSQL cannot store it), as the schema's
        # description says; a JSON Schema has no keyword for "any string but NUL".
        "--generation-allow-x00",
        "false",
        "--continue-on-failure",
        "--request-timeout",
        "30",
    ]


def test_schemathesis_finds_nothing_as_teacher_and_student(settings: Settings) -> None:
    assert SCHEMATHESIS.exists(), f"schemathesis is not installed at {SCHEMATHESIS}"
    # Notification streams end after a moment here (each fuzzed call would otherwise stay open).
    realtime = replace(settings.realtime, sse_max_seconds=0.2)
    app = create_app(
        replace(settings, rate_limit_per_user=10**9, rate_limit_per_ip=10**9, realtime=realtime)
    )
    with serve_in_thread(app) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            users = {role: _account(client, role) for role in RUNS}
        runs = {}
        for role, (phases, examples) in RUNS.items():
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "SCHEMATHESIS_HOOKS": str(SUPPORT / "schemathesis_hooks.py"),
                "DREAMSEED_ST_JWT_SECRET": settings.jwt_secret,
                "DREAMSEED_ST_USER_ID": users[role],
                "DREAMSEED_ST_ROLE": role,
            }
            runs[role] = subprocess.Popen(
                _command(url, phases, examples),
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        outputs = {}
        for role, process in runs.items():
            try:
                outputs[role] = process.communicate(timeout=RUN_SECONDS)[0]
            except subprocess.TimeoutExpired:
                for other in runs.values():
                    other.kill()
                pytest.fail(f"schemathesis as {role} ran longer than {RUN_SECONDS}s")
    for role, process in runs.items():
        output = outputs[role]
        tested = re.search(r"Tested: (\d+)", output)
        cases = re.search(r"(\d+) generated, (\d+) passed", output)
        print(
            f"schemathesis as {role}: operations {tested and tested[1]}, cases {cases and cases[0]}"
        )
        assert process.returncode == 0, f"schemathesis as {role} failed:\n{output[-20000:]}"
        assert tested and int(tested[1]) >= 40, output[-5000:]
        assert cases and cases[1] == cases[2], output[-5000:]
