"""`dreamseed dashboards serve`: run the Shiny dashboards (login + policy-governed pages)."""

from __future__ import annotations

import click

from cli.context import settings_of


@click.group()
def dashboards() -> None:
    """Shiny-for-Python dashboards behind login and the governance policy."""


@dashboards.command()
@click.option("--host", default=None, help="Bind address (default: DREAMSEED_API_HOST).")
@click.option(
    "--port", type=int, default=None, help="Port (default: DREAMSEED_DASHBOARD_PORT, 8050)."
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(host: str | None, port: int | None, log_level: str) -> None:
    """Serve the dashboards with uvicorn until interrupted."""
    import uvicorn

    from dashboards.app import create_app

    settings = settings_of()
    app = create_app(settings)
    bind_host = host or settings.api_host
    bind_port = port or settings.dashboard_port
    click.echo(f"dashboards on http://{bind_host}:{bind_port}/ (sign in at /login)", err=True)
    uvicorn.run(app, host=bind_host, port=bind_port, log_level=log_level, proxy_headers=False)
