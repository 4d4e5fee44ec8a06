"""The `dreamseed` command: one entry point for local services, pipelines and tools.

Subcommands are loaded lazily: `dreamseed --help` imports click and this module only, and
`dreamseed NAME …` imports the one module that defines NAME (the platform's modules pull in
pyiceberg, SQLAlchemy, Dagster, … which take seconds to import). The one-line help shown by
`dreamseed --help` is kept here beside each entry; a unit test checks it matches the command.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import click


class LazyCommand(NamedTuple):
    """Where a subcommand lives (`module:attribute`) and its one-line help (the first sentence
    of the command's docstring, as click derives it)."""

    target: str
    help: str


# Each module owns one part of the command line.
COMMANDS: dict[str, LazyCommand] = {
    "up": LazyCommand(
        "cli.services:up",
        "Start (or adopt) PostgreSQL, Redis and the S3 server; create the database and bucket.",
    ),
    "down": LazyCommand(
        "cli.services:down",
        "Stop the services `up` started (the S3 server; adopted PostgreSQL/Redis keep running).",
    ),
    "status": LazyCommand(
        "cli.services:status",
        "Print a table of the local services and exit non-zero if one is down.",
    ),
    "migrate": LazyCommand(
        "cli.platform:migrate",
        "Apply pending SQL migrations (creates the database first if needed).",
    ),
    "serve": LazyCommand(
        "cli.platform:serve",
        "Serve the API: all services, or only the SERVICES named (users classes content exams).",
    ),
    "relay": LazyCommand(
        "cli.platform:relay",
        "Run the outbox relay on its own (outbox → Redis Streams) until interrupted.",
    ),
    "consume": LazyCommand(
        "cli.consume:consume",
        "Run one member of an event consumer (notifications, analytics) on the Redis Streams.",
    ),
    "demo": LazyCommand(
        "cli.demo:demo",
        "Run the whole platform with a demo school and print every URL and login.",
    ),
    "simulate-history": LazyCommand(
        "cli.simulate:simulate_history",
        "Add simulated students and completed exams to the demo classes (run the demo seed first).",
    ),
    "irt": LazyCommand(
        "cli.irt:irt",
        "Item response theory: calibration and adaptive-test simulation.",
    ),
    "login": LazyCommand(
        "cli.login:login",
        "Sign in for the SQL door: stores a short-lived access token in the state folder.",
    ),
    "logout": LazyCommand("cli.login:logout", "Revoke the stored SQL-door token and forget it."),
    "users": LazyCommand(
        "cli.users:users",
        "Account administration as the operator (policy-checked, every action logged).",
    ),
    "lrs": LazyCommand(
        "cli.lrs:lrs",
        "Learning Record Store credentials (HTTP Basic key and secret for xAPI clients).",
    ),
    "privacy": LazyCommand(
        "cli.privacy:privacy",
        "Subject export and erasure (the lake's history included), policy-checked and logged.",
    ),
    "sql": LazyCommand(
        "cli.sql:sql",
        "Query the lake and the OLTP tables with DuckDB SQL, as the policy allows (sign in first "
        "with `dreamseed login`).",
    ),
    "pipeline": LazyCommand("cli.pipeline:pipeline", "Lake ingest and dbt marts (Dagster)."),
    "dashboards": LazyCommand(
        "cli.dashboards:dashboards",
        "Shiny-for-Python dashboards behind login and the governance policy.",
    ),
}


def load_command(name: str) -> click.Command:
    """Import the module that defines subcommand `name` and return the command."""
    module_name, _, attribute = COMMANDS[name].target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name].target} is not a click command")
    return command


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when one is run (or its help shown)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in COMMANDS]
        return sorted([*COMMANDS, *eager])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.add_command(load_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the help listing comes from COMMANDS, so `--help` imports no subcommand module
        rows: list[tuple[str, str]] = []
        limit = formatter.width - 6 - max((len(n) for n in self.list_commands(ctx)), default=0)
        for name in self.list_commands(ctx):
            if name in COMMANDS and name not in self.commands:
                # a stand-in command shortens the text exactly as click does
                stand_in = click.Command(name, help=COMMANDS[name].help)
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """DreamSeed: adaptive exams, item banks and lakehouse analytics for schools."""
