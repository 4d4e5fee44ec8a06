"""The `dreamseed` command: one entry point for local services, pipelines and tools."""

from __future__ import annotations

import importlib

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """DreamSeed: adaptive exams, item banks and lakehouse analytics for schools."""


# (module, command attribute) pairs; each module owns one part of the command line.
COMMANDS = [
    ("cli.services", "up"),
    ("cli.services", "down"),
    ("cli.services", "status"),
    ("cli.platform", "migrate"),
    ("cli.platform", "serve"),
    ("cli.platform", "relay"),
    ("cli.demo", "demo"),
    ("cli.simulate", "simulate_history"),
    ("cli.irt", "irt"),
    ("cli.login", "login"),
    ("cli.login", "logout"),
    ("cli.sql", "sql"),
    ("cli.pipeline", "pipeline"),
    ("cli.dashboards", "dashboards"),
]


def _register_commands() -> None:
    for module_name, attribute in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a part that has not landed yet
        main.add_command(getattr(module, attribute))


_register_commands()
