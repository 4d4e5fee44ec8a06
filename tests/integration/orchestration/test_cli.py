"""`dreamseed sql` and `dreamseed pipeline` pieces through click's CliRunner."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.pipeline import pipeline
from cli.sql import render, sql
from core.settings import Settings
from orchestration.analytics.resources import dbt_env
from orchestration.home import dagster_home
from tests.support.accounts import operator_token

pytestmark = pytest.mark.integration


def test_sql_reads_statements_from_stdin(settings: Settings) -> None:
    result = CliRunner().invoke(
        sql,
        ["--format", "csv", "--token", operator_token(settings)[1]],
        input="select 1 as a,\n 'x' as b;\nselect count(*) as n from attempts_completed;\n",
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["a,b", "1,x"]
    assert lines[2] == "n" and lines[3].isdigit()


def test_sql_errors_are_reported_and_fail_the_command(settings: Settings) -> None:
    token = operator_token(settings)[1]
    one_shot = CliRunner().invoke(
        sql, ["--token", token, "select * from no_such_view"], obj=settings
    )
    assert one_shot.exit_code != 0 and "no_such_view" in one_shot.output
    piped = CliRunner().invoke(sql, ["--token", token], input="select nope;\n", obj=settings)
    assert piped.exit_code == 1


def test_render_formats() -> None:
    assert (
        render(["a"], [(1,), (None,)], "json")
        == '[\n  {\n    "a": 1\n  },\n  {\n    "a": null\n  }\n]'
    )
    table = render(["a", "b"], [(1, None)], "table")
    assert "NULL" in table and table.endswith("(1 row)")


def test_dbt_env_is_derived_from_the_database_url() -> None:
    env = dbt_env("postgresql://ana%40x:s3cr%2Ft@db.internal:6543/dreamseed_test_1")
    assert env["DREAMSEED_PG_HOST"] == "db.internal"
    assert env["DREAMSEED_PG_PORT"] == "6543"
    assert env["DREAMSEED_PG_USER"] == "ana@x"
    assert env["DREAMSEED_PG_PASSWORD"] == "s3cr/t"
    assert env["DREAMSEED_PG_DBNAME"] == "dreamseed_test_1"


def test_dagster_home_is_project_local(settings: Settings, tmp_path: Path) -> None:
    home = dagster_home(settings.with_overrides(state_dir=tmp_path))
    assert home == tmp_path / "dagster"
    assert "telemetry" in (home / "dagster.yaml").read_text()


def test_pipeline_group_lists_run_and_ui() -> None:
    result = CliRunner().invoke(pipeline, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.output and "ui" in result.output
