"""`dreamseed demo`: the whole platform with a small demo school, as a new user would run it.

up → migrate → API → seed a school through the HTTP API (teachers, students, classes, an item bank,
exams; students answer by a 2PL model so later calibration has something true to recover) →
materialize the pipeline → serve API, dashboards and the Dagster UI, printing URLs and logins.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress
from rich.table import Table

from cli.context import settings_of
from cli.demo_courses import add_figure, seed_course, study
from cli.demo_lrs import outside_class_refusal, send_lesson_statements
from cli.demo_reports import scored_retakes
from cli.demo_tutor import DEMO_QUESTION, ask_tutor, seed_tutor_lessons
from cli.processes import busy_ports
from cli.simulate import add_history
from cli.supervisor import Child, Children, StopRequested, stop_signals
from cli.users import create_account
from core.migrate import migrate
from core.settings import Settings

console = Console()
TEACHERS = 2
STUDENTS_PER_CLASS = 12
ITEMS_PER_TEACHER = 12
SEED = 20261126
# ~1,000+ examinees per bank recover 2PL slopes to ≈0.1 (bench/calibration/demo_sample_size.py).
HISTORY_STUDENTS_PER_CLASS = 1500


@dataclass
class Login:
    role: str
    email: str
    password: str


def _dreamseed(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def _wait_http(url: str, child: Child, timeout: float = 600.0) -> None:
    """Wait until `url` answers; fail at once, with its log's tail, if `child` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if child.proc.poll() is not None:
            tail = child.log.read_text(errors="replace").splitlines()[-30:]
            raise click.ClickException(
                f"{child.name} exited (code {child.proc.returncode}) before {url} answered; "
                f"{child.log} ends:\n" + "\n".join(tail)
            )
        time.sleep(0.3)
    raise click.ClickException(f"{url} did not answer within {timeout:.0f}s (log {child.log})")


def _register(api: httpx.Client, role: str, name: str, email: str, password: str) -> None:
    reply = api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": name, "role": role},
    )
    if reply.status_code not in (201, 409):
        raise click.ClickException(f"registering {email} failed: {reply.text}")


def _token(api: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = api.post("/api/v1/auth/login", json={"email": email, "password": password})
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def _operator_account(settings: Settings, role: str, email: str, password: str) -> None:
    """Admins and analysts cannot self-register: made as `dreamseed users create` makes them
    (policy-checked, logged, with its outbox event); an existing one is kept."""
    try:
        create_account(settings, email, role.title(), role, password)
    except click.ClickException as exc:
        if "already exists" not in exc.message:
            raise


def seed_school(settings: Settings, api_url: str, state: Path) -> list[Login]:
    """Seed through the HTTP API; returns the demo logins (kept in the state folder)."""
    logins_file = state / "logins.json"
    if logins_file.exists():
        console.print("demo school already seeded; reusing it")
        return [Login(**x) for x in json.loads(logins_file.read_text())]
    rng = random.Random(SEED)
    password = "demo-" + secrets.token_hex(4)
    logins: list[Login] = []
    truth: dict[str, dict[str, float]] = {}
    tutor_shown = ""
    lrs: dict[str, Any] = {}
    state.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=api_url, timeout=30) as api, Progress(console=console) as bar:
        task = bar.add_task("seeding the demo school", total=TEACHERS * (STUDENTS_PER_CLASS + 2))
        for t in range(TEACHERS):
            email = f"teacher{t + 1}@demo.dreamseed.school"
            _register(api, "teacher", f"Teacher {t + 1}", email, password)
            logins.append(Login("teacher", email, password))
            teacher = _token(api, email, password)
            klass = api.post("/api/v1/classes/", json={"name": f"Class {t + 1}"}, headers=teacher)
            klass.raise_for_status()
            item_ids = []
            for i in range(ITEMS_PER_TEACHER):
                a, b = round(rng.uniform(0.7, 2.0), 3), round(rng.gauss(0, 1), 3)
                item = api.post(
                    "/api/v1/items/",
                    json={
                        "stem": f"Question {i + 1} of teacher {t + 1}",
                        "options": ["A", "B", "C", "D"],
                        "answer_key": rng.randrange(4),
                        "skills": [rng.choice(["algebra", "geometry", "number"])],
                    },
                    headers=teacher,
                )
                item.raise_for_status()
                body = item.json()
                if i == 0:
                    add_figure(api, teacher, body["item_id"])
                item_ids.append(body["item_id"])
                truth[body["item_id"]] = {"a": a, "b": b, "key": body["answer_key"]}
            exam = api.post(
                "/api/v1/exams/",
                json={
                    "title": f"Unit test {t + 1}",
                    "item_ids": item_ids,
                    "class_id": klass.json()["class_id"],
                },
                headers=teacher,
            )
            exam.raise_for_status()
            # A course with media and assignments (before the students take the exam, so the
            # exam assignment is handed in by their attempts).
            course = seed_course(
                api, teacher, klass.json()["class_id"], exam.json()["exam_id"], t + 1
            )
            seed_tutor_lessons(api, teacher, course.course_id)
            bar.advance(task)
            for s in range(STUDENTS_PER_CLASS):
                email = f"student{t + 1}-{s + 1}@demo.dreamseed.school"
                _register(api, "student", f"Student {t + 1}.{s + 1}", email, password)
                if s == 0:
                    logins.append(Login("student", email, password))
                student = _token(api, email, password)
                api.post(
                    "/api/v1/classes/join",
                    json={"join_code": klass.json()["join_code"]},
                    headers=student,
                ).raise_for_status()
                if s == 0:
                    study(api, student, course)
                if s == 0 and t == 0:
                    # The tutor with no model configured: the grounded fallback, cited.
                    answer = ask_tutor(api, student, klass.json()["class_id"], DEMO_QUESTION)
                    tutor_shown = f"{email} asks the tutor: {DEMO_QUESTION}\n{answer}"
                if s == 0 and t == 0:  # and an H5P player's lesson, through the LRS
                    lrs = send_lesson_statements(api, teacher, klass.json()["class_id"], student)
                    (state / "lrs_credential.json").write_text(json.dumps(lrs, indent=1))
                    (state / "lrs_credential.json").chmod(0o600)
                if s == 0 and t == 1 and lrs:  # class 1's credential, about a class 2 student
                    lrs["outside_class"] = outside_class_refusal(api, lrs, student)
                    (state / "lrs_credential.json").write_text(json.dumps(lrs, indent=1))
                attempt = api.post(
                    f"/api/v1/exams/{exam.json()['exam_id']}/attempts", headers=student
                ).json()
                theta = rng.gauss(0, 1)
                for item_id in item_ids:
                    p = truth[item_id]
                    correct = rng.random() < 1 / (1 + math.exp(-p["a"] * (theta - p["b"])))
                    choice = int(p["key"]) if correct else (int(p["key"]) + 1) % 4
                    api.post(
                        f"/api/v1/attempts/{attempt['attempt_id']}/responses",
                        json={"item_id": item_id, "choice": choice},
                        headers=student,
                    ).raise_for_status()
                api.post(
                    f"/api/v1/attempts/{attempt['attempt_id']}/finish", headers=student
                ).raise_for_status()
                bar.advance(task)
            bar.advance(task)
    for role in ("admin", "analyst"):
        email = f"{role}@demo.dreamseed.school"
        _operator_account(settings, role, email, password)
        logins.append(Login(role, email, password))
    if tutor_shown:
        console.print(Panel(tutor_shown, title="The tutor (no model configured)"))
        (state / "tutor_demo.txt").write_text(tutor_shown + "\n", encoding="utf-8")
    (state / "true_item_parameters.json").write_text(json.dumps(truth, indent=1))
    logins_file.write_text(json.dumps([vars(x) for x in logins], indent=1))
    logins_file.chmod(0o600)
    return logins


@dataclass
class DemoRuntime:
    """How the demo's background work runs: child processes for `dreamseed demo`, in process (a
    thread, the Dagster job in the caller) for the dashboards' browser tests."""

    #: Start the analytics consumer and return once it reads its streams.
    start_analytics: Callable[[], None]
    #: Materialize the whole pipeline (lake → marts → calibration) under a run name; raise if it
    #: fails or any check fails.
    run_pipeline: Callable[[str], None]


def populate(
    settings: Settings,
    api_url: str,
    runtime: DemoRuntime,
    *,
    pipeline: bool = True,
    history_students: int = HISTORY_STUDENTS_PER_CLASS,
) -> list[Login]:
    """Everything the demo puts into the platform once its API answers at `api_url`: the school
    (seed_school), its simulated history, the live analytics, the pipeline, the scored retakes
    and the pipeline again. One code path: `dreamseed demo` and the dashboards' browser tests
    (tests/support/demo_world.py) both build the demo's data with it. A school seeded before
    (logins in `<state_dir>/demo`) is reused and only the pipeline runs again."""
    state = settings.state_dir / "demo"
    fresh = not (state / "logins.json").exists()
    logins = seed_school(settings, api_url, state)
    if fresh:
        # Enough history for the calibration loop to recover the true item parameters.
        add_history(settings, history_students, days=60, seed=SEED)
    # The analytics consumer after the history: a new group starts from the OLTP tables (one
    # SQL rebuild, apis/analytics/rebuild.py) instead of replaying every simulated response; it
    # is ready once that is done, so the marts' check compares complete figures.
    runtime.start_analytics()
    if pipeline:
        console.print("materializing the pipeline (outbox → Iceberg → dbt marts → calibration)…")
        runtime.run_pipeline("pipeline")
        if fresh:
            # With the bank calibrated, a few students retake their test: IRT-scored attempts
            # (θ, SE) for the class and student reports; a second run rebuilds the marts.
            retakes = scored_retakes(
                settings.database_url, api_url, state, logins[0].password, TEACHERS, SEED
            )
            console.print(
                f"{retakes} IRT-scored attempts (retakes, adaptive practice); materializing again…"
            )
            runtime.run_pipeline("pipeline-2")
    return logins


def _run_logged(children: Children, name: str, args: list[str], log: Path) -> None:
    """Run a step to completion with its output in `log`; on failure show the log's tail."""
    if children.run(name, args, log) != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise click.ClickException(f"{' '.join(args[2:])} failed (log {log}):\n" + "\n".join(tail))
    console.print(f"  done (log {log})")


def _refuse_busy_ports(settings: Settings, serve: bool) -> None:
    """Name every port the demo needs that another process holds, before starting anything."""
    wanted = [
        (settings.api_host, settings.api_port, "the API (DREAMSEED_API_PORT)"),
        ("127.0.0.1", settings.api_port + 1, "the consumer's metrics (DREAMSEED_API_PORT + 1)"),
        ("127.0.0.1", settings.api_port + 2, "the analytics consumer's metrics (API_PORT + 2)"),
    ]
    if serve:
        wanted.append(
            (
                settings.api_host,
                settings.dashboard_port,
                "the dashboards (DREAMSEED_DASHBOARD_PORT)",
            )
        )
        wanted.append(
            ("127.0.0.1", settings.dagster_port, "the Dagster UI (DREAMSEED_DAGSTER_PORT)")
        )
    busy = busy_ports(wanted)
    if busy:
        raise click.ClickException(
            "cannot start the demo:\n"
            + "".join(f"  {port.describe()}\n" for port in busy)
            + "Stop that process (a demo still running elsewhere?) or choose another port with the"
            " environment variable named."
        )


@click.command()
@click.option("--serve/--no-serve", default=True, help="keep API, dashboards and Dagster UI up")
@click.option(
    "--pipeline/--no-pipeline",
    default=True,
    help="materialize the pipeline first (--no-pipeline serves what an earlier run built)",
)
def demo(serve: bool, pipeline: bool) -> None:
    """Run the whole platform with a demo school and print every URL and login.

    Ctrl-C, SIGTERM and SIGHUP all stop every process the demo started.
    """
    settings = settings_of()
    _refuse_busy_ports(settings, serve)
    children = Children()
    with stop_signals():
        try:
            _run_demo(settings, children, serve=serve, pipeline=pipeline)
        except (KeyboardInterrupt, StopRequested) as stop:
            why = f" ({stop})" if isinstance(stop, StopRequested) else ""
            console.print(f"stopping{why}…")
        finally:
            children.stop_all()


def _run_demo(settings: Settings, children: Children, *, serve: bool, pipeline: bool) -> None:
    from cli.services import bring_up, ensure_database

    settings = bring_up(settings)
    ensure_database(settings.database_url)
    migrate(settings.database_url)
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    # The whole demo school is seeded from one loopback address: lift the per-IP limit for it.
    demo_api_env = {"DREAMSEED_RATE_LIMIT_PER_IP": "100000"}
    api = children.start("the API", _dreamseed("serve"), logs / "api.log", demo_api_env)
    # The notifications consumer, ready (its groups exist: it serves metrics only after making
    # them) before the seed posts assignments, so the demo logins find their notifications.
    metrics_port = settings.api_port + 1
    consumer = children.start(
        "the notifications consumer",
        _dreamseed("consume", "notifications"),
        logs / "consumer.log",
        # Mails of the seed's assignments show in its log within seconds (digest window 10 s).
        {
            "DREAMSEED_REALTIME_METRICS_PORT": str(metrics_port),
            "DREAMSEED_EMAIL_DIGEST_WINDOW_SECONDS": "10",
        },
    )
    _wait_http(f"{api_url}/health", api)
    _wait_http(f"http://127.0.0.1:{metrics_port}/metrics", consumer)
    analytics_port = settings.api_port + 2

    def start_analytics() -> None:
        analytics = children.start(
            "the analytics consumer",
            _dreamseed("consume", "analytics"),
            logs / "consumer-analytics.log",
            {"DREAMSEED_REALTIME_METRICS_PORT": str(analytics_port)},
        )
        _wait_http(f"http://127.0.0.1:{analytics_port}/metrics", analytics)

    def run_pipeline(name: str) -> None:
        _run_logged(children, "the pipeline", _dreamseed("pipeline", "run"), logs / f"{name}.log")

    logins = populate(
        settings, api_url, DemoRuntime(start_analytics, run_pipeline), pipeline=pipeline
    )
    if not serve:
        _print_summary(settings, logins, serving=False)
        return
    dashboards = children.start(
        "the dashboards", _dreamseed("dashboards", "serve"), logs / "dashboards.log"
    )
    dagster = children.start("the Dagster UI", _dreamseed("pipeline", "ui"), logs / "dagster.log")
    _wait_http(f"http://{settings.api_host}:{settings.dashboard_port}/health", dashboards)
    _wait_http(f"http://127.0.0.1:{settings.dagster_port}/", dagster)
    _print_summary(settings, logins, serving=True)
    console.print(f"logs in {logs}; press Ctrl-C to stop")
    while (stopped := children.first_stopped()) is None:
        time.sleep(1)
    raise click.ClickException(
        f"{stopped.name} stopped (exit {stopped.proc.returncode}); see {stopped.log}"
    )


def _print_summary(settings: Settings, logins: list[Login], *, serving: bool) -> None:
    host = settings.api_host
    urls = Table(title="DreamSeed demo" + ("" if serving else " (seeded; not serving)"))
    urls.add_column("what")
    urls.add_column("where")
    rows: list[tuple[str, Any]] = [
        ("API", f"http://{host}:{settings.api_port}"),
        ("API docs (offline Swagger UI)", f"http://{host}:{settings.api_port}/schema/docs"),
        ("Dashboard: attempts per day", f"http://{host}:{settings.dashboard_port}/"),
        ("Dagster UI", f"http://{host}:{settings.dagster_port}"),
        (
            "Live analytics (sign in as a student / the teacher)",
            f"http://{host}:{settings.api_port}/api/v1/analytics/me/progress,"
            " …/analytics/classes/<class_id>/progress and …/presence",
        ),
        ("S3 (SeaweedFS)", settings.s3_endpoint or str(settings.lake_local_dir)),
        (
            "Analyst SQL (masked)",
            "dreamseed login --email analyst@demo.dreamseed.school; "
            'dreamseed sql "select * from users.accounts limit 5"',
        ),
    ]
    credential = settings.state_dir / "demo" / "lrs_credential.json"
    if credential.exists():
        lrs = json.loads(credential.read_text())
        rows.append((
            "xAPI LRS (Basic key / secret, class 1)",
            f"http://{host}:{settings.api_port}/xapi/  {lrs['key']} / {lrs['secret']}",
        ))  # fmt: skip
        if "outside_class" in lrs:
            rows.append(("xAPI: class 1's credential, a statement about a class 2 student",
                         lrs["outside_class"]))  # fmt: skip
    logs = settings.state_dir / "logs" / "consumer.log"
    rows.append((
        "Notification e-mail",
        f"SMTP {settings.email.smtp_host}:{settings.email.smtp_port}"
        if settings.email.smtp_host
        else f"no SMTP server: each mail is written to {logs} ('e-mail NOT SENT')",
    ))  # fmt: skip
    for what, where in rows:
        urls.add_row(what, str(where))
    console.print(urls)
    people = Table(title="Demo logins")
    for column in ("role", "e-mail", "password"):
        people.add_column(column)
    for login in logins:
        people.add_row(login.role, login.email, login.password)
    console.print(people)
