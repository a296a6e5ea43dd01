"""`flexfulfill serve` (the merchant server) and `flexfulfill demo` (the receiver in one minute)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import tempfile
from pathlib import Path

import typer
from fastapi import APIRouter
import uvicorn
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_engine
from flexfulfill.config import Settings
from flexfulfill.store.migrate import pending_revisions, upgrade
from flexfulfill.web.app import Background, build_app
from flexfulfill.web.server import run, server_config

console = Console(stderr=True)


@dataclass(frozen=True)
class Component:
    """What an area adds to the server: FastAPI routers and background tasks."""

    routers: Sequence[APIRouter] = ()
    background: Sequence[Background] = field(default_factory=tuple)


ComponentFactory = Callable[[Settings, AsyncEngine], Component]


def _fulfillment(settings: Settings, engine: AsyncEngine) -> Component:
    """The worker, the reconciler and the success page (see bootstrap.build_fulfillment_parts)."""
    from flexfulfill.bootstrap import build_fulfillment_parts

    routers, background = build_fulfillment_parts(settings, engine)
    return Component(routers=routers, background=background)


def _dashboard(settings: Settings, engine: AsyncEngine) -> Component:
    """The operators' dashboard at /dashboard (see cli/dashboard_commands.py)."""
    from flexfulfill.cli.dashboard_commands import dashboard_component

    return dashboard_component(settings, engine)


# Areas plug into `serve` here, one factory each (the worker, the success page, the dashboard).
COMPONENTS: tuple[ComponentFactory, ...] = (_fulfillment, _dashboard)


def register(app: typer.Typer) -> None:
    app.command(
        epilog="Example: FLEX_WEBHOOK_SECRET=fwhsec_… flexfulfill serve --port 4242",
    )(serve)
    app.command(epilog="Example: flexfulfill demo --db /tmp/demo.sqlite3")(demo)


def serve(
    host: str = typer.Option(None, help="Interface to listen on [default: FLEXFULFILL_HOST]"),
    port: int = typer.Option(None, help="Port to listen on [default: FLEXFULFILL_PORT or 4242]"),
) -> None:
    """Run the merchant server: POST /webhook, /healthz, /readyz, /metrics.

    Reads FLEX_WEBHOOK_SECRET (required) and DATABASE_URL; migrates an empty database first.
    Stops cleanly on Ctrl-C or SIGTERM: requests in flight are answered first.
    """
    settings = Settings.from_env(require=("FLEX_WEBHOOK_SECRET",))
    try:
        run(_serve(settings, host or settings.host, port or settings.port))
    except KeyboardInterrupt:
        pass


async def _serve(settings: Settings, host: str, port: int) -> None:
    engine = build_engine(settings)
    try:
        await prepare_schema(engine)
        components = [factory(settings, engine) for factory in COMPONENTS]
        app = build_app(
            settings,
            engine,
            routers=[r for c in components for r in c.routers],
            background=[b for c in components for b in c.background],
        )
        console.print(f"flexfulfill listening on http://{host}:{port} (POST /webhook)")
        await uvicorn.Server(server_config(app, host, port)).serve()
    finally:
        await engine.dispose()


async def prepare_schema(engine: AsyncEngine) -> None:
    """Migrate an empty database; refuse to start on an outdated one (run `migrate`)."""
    where = make_url(engine.url).render_as_string(hide_password=True)
    try:
        pending = await pending_revisions(engine)
        if pending and await _is_empty(engine):
            console.print(f"migrating the empty database at {where}")
            await upgrade(engine)
        elif pending:
            console.print(f"[red]The schema at {where} is outdated.[/] Run: flexfulfill migrate")
            raise typer.Exit(1)
    except (SQLAlchemyError, OSError) as exc:
        console.print(f"[red]Cannot reach the database at {where}:[/] {type(exc).__name__}")
        console.print("Check DATABASE_URL and that the server is running.")
        raise typer.Exit(1) from None


async def _is_empty(engine: AsyncEngine) -> bool:
    from sqlalchemy import inspect

    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    return not names or names == ["alembic_version"]


def demo(
    db: Path = typer.Option(None, help="SQLite file to use [default: a new temporary file]"),
    json_output: bool = typer.Option(False, "--json", help="Print the outcome as JSON"),
) -> None:
    """Start the receiver on SQLite, post signed webhooks to it, show what was stored.

    Posts a valid event, the same message again (a redelivery), a forged one, a stale one and
    an event type nobody handles, over real HTTP on loopback, and prints each answer and the
    inbox rows. Needs no configuration: a throwaway signing secret is generated.
    """
    from flexfulfill.web.demo import print_outcome, run_demo

    with tempfile.TemporaryDirectory(prefix="flexfulfill-demo-") as scratch:
        path = db or Path(scratch) / "demo.sqlite3"
        outcome = run(run_demo(path))
    print_outcome(outcome, json_output=json_output)
