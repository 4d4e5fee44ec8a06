"""The `dreamseed` command: one entry point for local services, pipelines and tools."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """DreamSeed: adaptive exams, AI tutor and lakehouse analytics for schools."""


def _register_subcommands() -> None:
    # Imported here so `dreamseed --help` stays fast and one broken group cannot hide the others.
    from cli import irt

    main.add_command(irt.irt)


_register_subcommands()
