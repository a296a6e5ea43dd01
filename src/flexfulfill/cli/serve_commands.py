"""`flexfulfill serve` (the merchant server) and `flexfulfill demo` (the receiver in one minute)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import APIRouter
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_engine
from flexfulfill.config import Settings
from flexfulfill.store.migrate import pending_revisions, upgrade
from flexfulfill.web.app import Background, MerchantApp, build_app
from flexfulfill.web.server import run, server_config, worker_options

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


def _receipts(settings: Settings, engine: AsyncEngine) -> Component:
    """The receipt sender, beside the worker (see bootstrap.build_receipt_task)."""
    from flexfulfill.bootstrap import build_receipt_task

    if not settings.run_worker_in_serve:
        return Component()  # `flexfulfill worker` runs it instead
    return Component(background=(build_receipt_task(settings, engine),))


# Areas plug into `serve` here, one factory each (the worker, the success page, the dashboard).
COMPONENTS: tuple[ComponentFactory, ...] = (_fulfillment, _dashboard, _receipts)


def register(app: typer.Typer) -> None:
    app.command(
        epilog="Example: FLEX_WEBHOOK_SECRET=fwhsec_… flexfulfill serve --port 4242",
    )(serve)
    app.command(epilog="Example: flexfulfill demo --db /tmp/demo.sqlite3")(demo)


def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default: FLEXFULFILL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: FLEXFULFILL_PORT, 4242)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes sharing the port")] = 1,
) -> None:
    """Run the merchant server: POST /webhook, /healthz, /readyz, /metrics.

    Reads FLEX_WEBHOOK_SECRET (required) and DATABASE_URL; migrates an empty database first.
    Stops cleanly on Ctrl-C or SIGTERM: requests in flight are answered first. With
    --workers N, N processes share the port, each acknowledging only after its own commit.
    """
    settings = Settings.from_env(require=("FLEX_WEBHOOK_SECRET",))
    host, port = host or settings.host, port or settings.port
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn already shut down cleanly
        if workers == 1:
            run(_serve(settings, host, port))
        else:
            run(_prepare(settings))
            uvicorn.run(WORKER_APP, factory=True, workers=workers, **worker_options(host, port))


WORKER_APP = "flexfulfill.cli.serve_commands:worker_app"


def worker_app() -> MerchantApp:
    """The app one ``serve --workers N`` process runs (settings from the environment again)."""
    settings = Settings.from_env(require=("FLEX_WEBHOOK_SECRET",))
    engine = build_engine(settings)
    return _app(settings, engine, close_engine=True)


def _app(settings: Settings, engine: AsyncEngine, *, close_engine: bool = False) -> MerchantApp:
    components = [factory(settings, engine) for factory in COMPONENTS]
    return build_app(
        settings,
        engine,
        routers=[r for c in components for r in c.routers],
        background=[b for c in components for b in c.background],
        close_engine=close_engine,
    )


async def _prepare(settings: Settings) -> None:
    engine = build_engine(settings)
    try:
        await prepare_schema(engine)
    finally:
        await engine.dispose()


async def _serve(settings: Settings, host: str, port: int) -> None:
    engine = build_engine(settings)
    try:
        await prepare_schema(engine)
        app = _app(settings, engine)
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
    db: Annotated[Path | None, typer.Option(help="SQLite file (default: a temporary one)")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON")] = False,
) -> None:
    """Start the receiver on SQLite, post signed webhooks to it, show what was stored.

    Posts a valid event, the same message again (a redelivery), a forged one, a stale one and
    an event type nobody handles, over real HTTP on loopback, and prints each answer and the
    inbox rows. Needs no configuration: a throwaway signing secret is generated.
    """
    from flexfulfill.web.demo import print_outcome, run_demo

    with tempfile.TemporaryDirectory(prefix="flexfulfill-demo-") as scratch:
        path = (db or Path(scratch) / "demo.sqlite3").resolve()
        outcome = run(run_demo(path))
    print_outcome(outcome, json_output=json_output)
