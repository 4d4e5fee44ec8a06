"""The process's settings on the click context: loaded once, on first use, by any subcommand.

Loading waits for the first command that needs it, so `dreamseed --help` and `irt calibrate`
(which need no settings) do not import the platform. A test passes its own settings as the
context object (`CliRunner().invoke(command, obj=settings)`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from core.settings import Settings


def settings_of(ctx: click.Context | None = None) -> Settings:
    """The settings kept on the root click context (loaded there on first use)."""
    from core.settings import Settings, SettingsError

    root = (ctx or click.get_current_context()).find_root()
    if isinstance(root.obj, Settings):
        return root.obj
    try:
        settings = Settings.load()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    root.obj = settings
    return settings
