"""`dreamseed pipeline`: run the Dagster assets in process, or open the Dagster UI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from cli.context import settings_of
from core.settings import Settings

DEFINITIONS_MODULE = "orchestration.definitions"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@click.group("pipeline")
def pipeline() -> None:
    """Lake ingest and dbt marts (Dagster)."""


def materialize(settings: Settings, selection: str = "*") -> tuple[bool, list[str]]:
    """Materialize the assets (a Dagster selection) in this process, recorded in the Dagster
    instance under `<state_dir>/dagster`; returns whether the run succeeded with every check
    passing, and one line per materialization and check. `pipeline run` and the demo's data
    (cli.demo.populate, also in the dashboards' browser tests) run the pipeline through it."""
    import dagster as dg

    from orchestration.builder import build_definitions
    from orchestration.home import dagster_home

    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    if selection != "*":
        job = job.get_subset(
            asset_selection=set(
                dg.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph())
            )
        )
    with dg.DagsterInstance.from_config(str(dagster_home(settings))) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    lines = []
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is None:
            continue
        meta = {
            k: v.value
            for k, v in materialization.metadata.items()
            if k in {"rows", "xmin_horizon", "rows_per_second", "dagster_dbt/materialization_type"}
        }
        lines.append(f"materialized {materialization.asset_key.to_user_string():32} {meta or ''}")
    failed_checks = 0
    for evaluation in result.get_asset_check_evaluations():
        failed_checks += not evaluation.passed
        mark = "ok  " if evaluation.passed else "FAIL"
        lines.append(
            f"check {mark} {evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        )
    lines.append(f"run {result.run_id}: {'success' if result.success else 'FAILED'}")
    return result.success and not failed_checks, lines


@pipeline.command("run")
@click.option(
    "--select",
    "selection",
    default="*",
    show_default=True,
    help="Dagster asset selection, e.g. 'outbox_events' or 'group:analytics'.",
)
@click.pass_context
def run(ctx: click.Context, selection: str) -> None:
    """Materialize the assets in this process (runs are recorded in DAGSTER_HOME)."""
    from orchestration.home import dagster_home

    settings = settings_of(ctx)
    os.environ["DAGSTER_HOME"] = str(dagster_home(settings))
    ok, lines = materialize(settings, selection)
    for line in lines:
        click.echo(line)
    if not ok:
        ctx.exit(1)


@pipeline.command("ui")
@click.option("--port", type=int, default=None, help="Defaults to DREAMSEED_DAGSTER_PORT.")
@click.pass_context
def ui(ctx: click.Context, port: int | None) -> None:
    """Start `dagster dev` (webserver + daemon) on the project's definitions."""
    from orchestration.home import dagster_home

    settings = settings_of(ctx)
    env = dict(
        os.environ,
        DAGSTER_HOME=str(dagster_home(settings)),
        DREAMSEED_STATE_DIR=str(settings.state_dir.resolve()),
    )
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        DEFINITIONS_MODULE,
        "--host",
        "127.0.0.1",
        "--port",
        str(port or settings.dagster_port),
    ]
    click.echo(f"Dagster UI on http://127.0.0.1:{port or settings.dagster_port}", err=True)
    os.chdir(PROJECT_ROOT)
    os.execvpe(command[0], command, env)  # noqa: S606 - replace this process with dagster dev
