"""`flexfulfill dashboard hash-password`, and the dashboard as a component of `serve`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from flexfulfill.config import Settings
from flexfulfill.web.auth import hash_password

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from flexfulfill.cli.serve_commands import Component
    from flexfulfill.web.dashboard import Preview, Reconcile

console = Console(stderr=True)
dashboard_app = typer.Typer(help="The operators' dashboard at /dashboard.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(dashboard_app, name="dashboard")


@dashboard_app.command(
    "hash-password",
    epilog=(
        "Examples:\n\n"
        "  flexfulfill dashboard hash-password\n\n"
        '  printf %s "$PW" | flexfulfill dashboard hash-password --stdin\n\n'
        "Then: export DASHBOARD_USER=ops DASHBOARD_PASSWORD_HASH='scrypt$…'"
    ),
)
def hash_password_command(
    stdin: bool = typer.Option(False, "--stdin", help="Read the password from standard input"),
) -> None:
    """Print the scrypt hash of a password for DASHBOARD_PASSWORD_HASH.

    Asks twice (hidden) unless --stdin is given. Only the hash is printed (on stdout), so it
    can go straight into a secret store; the password itself is never written anywhere.
    """
    password = sys.stdin.read().rstrip("\n") if stdin else _ask()
    if len(password) < 8:
        console.print("[red]Use a password of at least 8 characters.[/]")
        raise typer.Exit(2)
    typer.echo(hash_password(password))
    console.print("Set it (single-quoted: it contains $) as DASHBOARD_PASSWORD_HASH.")


def _ask() -> str:
    answer: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return answer


def dashboard_component(settings: Settings, engine: AsyncEngine) -> Component:
    """The dashboard router for `serve`; its reconcile button works when FLEX_API_KEY is set."""
    from flexfulfill.cli.serve_commands import Component
    from flexfulfill.web.dashboard import dashboard_router

    router = dashboard_router(
        settings, engine, reconcile=_reconcile(settings, engine), preview=_preview(settings)
    )
    return Component(routers=[router])


def _preview(settings: Settings) -> Preview:
    """Receipt snapshots rendered with the same (validated) templates the sender uses."""
    from flexfulfill.bootstrap import build_receipt_renderer
    from flexfulfill.domain.receipts import Receipt
    from flexfulfill.mail import RenderError

    renderer = build_receipt_renderer(settings)

    def preview(payload: str) -> dict[str, Any] | None:
        try:
            rendered = renderer.render(Receipt.from_json(payload))
        except (RenderError, ValueError, TypeError, KeyError):
            return None  # a payload the templates cannot show: the page shows the row alone
        return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}

    return preview


def _reconcile(settings: Settings, engine: AsyncEngine) -> Reconcile | None:
    if not settings.flex_api_key:
        return None
    from flexfulfill.bootstrap import build_flex_client, build_services
    from flexfulfill.fulfillment.reconciler import Reconciler

    reconciler = Reconciler(build_services(settings, engine, build_flex_client(settings)))

    async def reconcile(actor: str) -> str:
        run = await reconciler.run_once(actor=actor)
        outcome = (
            f"{run.sessions_seen} completed sessions seen, {run.orders_created} orders created"
        )
        return f"Reconciliation stopped early: {run.error}" if run.error else outcome

    return reconcile
