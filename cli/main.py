"""The `dreamseed` command: one entry point for local services, pipelines and tools."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """DreamSeed: adaptive exams, AI tutor and lakehouse analytics for schools."""


def _register_subcommands() -> None:
    # Imported here so each group lives in its own module and `--help` lists them all.
    from cli import services

    for command in (services.up, services.down, services.status):
        main.add_command(command)
    try:
        from cli import irt
    except ImportError:  # the psychometrics CLI lands separately
        return
    main.add_command(irt.irt)


_register_subcommands()
