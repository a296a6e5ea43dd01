"""`flexfulfill migrate`."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from flexfulfill.bootstrap import build_engine
from flexfulfill.config import Settings
from flexfulfill.store.migrate import upgrade

console = Console()


def register(app: typer.Typer) -> None:
    app.command(epilog="Example: DATABASE_URL=postgresql://127.0.0.1/shop flexfulfill migrate")(
        migrate
    )


def migrate() -> None:
    """Create or upgrade the database schema (DATABASE_URL) to the newest revision."""
    settings = Settings.from_env()
    asyncio.run(_migrate(settings))
    console.print(f"[green]✓[/] schema is current on {_safe_url(settings.database_url)}")


async def _migrate(settings: Settings) -> None:
    engine = build_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _safe_url(url: str) -> str:
    """The URL without a password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
