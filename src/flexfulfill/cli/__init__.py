"""The `flexfulfill` command line. Each area registers its commands from its own module."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from flexfulfill.cli import (
    dashboard_commands,
    db_commands,
    doctor_commands,
    events_commands,
    receipts_commands,
    sandbox_commands,
    serve_commands,
    stock_commands,
    up_commands,
    webhooks_commands,
    worker_commands,
)
from flexfulfill.config import ConfigError

app = typer.Typer(
    name="flexfulfill",
    help="Fulfill Flex (withflex.com) orders from verified webhooks, exactly once.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Fulfill Flex (withflex.com) orders from verified webhooks, exactly once.

    Configuration comes from the environment (see the README): DATABASE_URL,
    FLEX_WEBHOOK_SECRET, FLEX_API_KEY, FLEX_API_BASE, SMTP_URL, RECEIPT_FROM, ...
    """


for module in (
    db_commands,
    sandbox_commands,
    serve_commands,
    webhooks_commands,
    worker_commands,
    events_commands,
    stock_commands,
    receipts_commands,
    dashboard_commands,
    doctor_commands,
    up_commands,
):
    module.register(app)


def main() -> None:
    """Entry point of the console script: configuration errors end in one clear line."""
    try:
        app()
    except ConfigError as exc:
        err.print(f"[bold red]Configuration error:[/] {exc}")
        sys.exit(2)
