"""`flexfulfill events list|show|replay`: the inbox, its attempts, and putting events back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.bootstrap import build_engine
from flexfulfill.config import Settings
from flexfulfill.store import event_log
from flexfulfill.store.statuses import EventStatus
from flexfulfill.store.tables import webhook_events

console = Console()
events_app = typer.Typer(help="Inspect and replay stored webhook events.", no_args_is_help=True)
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")


async def _with_db(work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool = False) -> T:
    engine = build_engine(Settings.from_env())
    try:
        async with engine.begin() if write else engine.connect() as conn:
            return await work(conn)
    finally:
        await engine.dispose()


@events_app.command("list", epilog="Example: flexfulfill events list --status dead --json")
def list_events(
    status: Annotated[EventStatus | None, typer.Option(help="Only events in this status")] = None,
    event_type: str = typer.Option(None, "--type", help="Only this event type"),
    limit: int = typer.Option(50, min=1, max=10000, help="How many, newest first"),
    json_output: bool = typer.Option(False, "--json", help="Print JSON lines"),
) -> None:
    """The newest stored events with their status, attempts and last error."""
    rows = asyncio.run(
        _with_db(lambda c: event_log.recent(c, status=status, event_type=event_type, limit=limit))
    )
    if json_output:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table(title=f"{len(rows)} events")
    for column in ("id", "type", "status", "attempts", "received", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["event_type"]),
            str(row["status"]),
            str(row["attempts"]),
            _when(row["received_at"]),
            (row["last_error"] or "")[:60],
        )
    console.print(table)


@events_app.command("show", epilog="Example: flexfulfill events show msg_2Zx1example")
def show(
    ref: str = typer.Argument(..., help="Row id, message id (msg_…) or event id"),
    json_output: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """One event: its body and every processing attempt (the timeline)."""
    found = asyncio.run(_with_db(lambda c: event_log.detail(c, ref)))
    if found is None:
        console.print(f"[red]No stored event {ref!r}.[/] List them with: flexfulfill events list")
        raise typer.Exit(1)
    if json_output:
        typer.echo(json.dumps({"event": found.row, "attempts": found.attempts}, default=str))
        return
    row = found.row
    console.print(
        f"[bold]{row['event_type']}[/] #{row['id']} {row['message_id']} — {row['status']}"
    )
    if row["last_error"]:
        console.print(f"last error: {row['last_error']}")
    table = Table(title="attempts")
    for column in ("#", "worker", "started", "outcome", "order", "error"):
        table.add_column(column)
    for a in found.attempts:
        table.add_row(
            str(a["attempt"]),
            str(a["worker"]),
            _when(a["started_at"]),
            str(a["outcome"]),
            str(a["order_id"] or ""),
            (a["error"] or "")[:60],
        )
    console.print(table)
    console.print_json(row["body"])


@events_app.command(
    "replay",
    epilog="Example: flexfulfill events replay 42   |   flexfulfill events replay --dead --wait",
)
def replay(
    row_ids: Annotated[list[int] | None, typer.Argument(help="Row ids to replay")] = None,
    dead: bool = typer.Option(False, "--dead", help="Replay every dead event"),
    wait: bool = typer.Option(
        False, "--wait", help="Show progress until a running worker has processed them"
    ),
    wait_timeout: float = typer.Option(300.0, help="With --wait: give up after this many seconds"),
    json_output: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Put events back in the queue; handlers are idempotent, so nothing happens twice."""
    if not row_ids and not dead:
        console.print(
            "[red]Name the events to replay[/] (ids from `flexfulfill events list`) or pass --dead."
        )
        raise typer.Exit(2)
    ids = asyncio.run(_with_db(lambda c: _replay(c, row_ids or None), write=True))
    left = asyncio.run(_watch(ids, wait_timeout, quiet=json_output)) if wait and ids else None
    if json_output:
        summary = {"replayed": len(ids)} | ({} if left is None else {"still_queued": left})
        typer.echo(json.dumps(summary))
        return
    console.print(f"[green]✓[/] {len(ids)} event(s) queued again.")
    if left is None:
        console.print("A running worker picks them up (`--wait` shows the progress).")
    elif left:
        console.print(f"[yellow]{left} still queued[/] after {wait_timeout:.0f} s: is a worker up?")


async def _replay(conn: AsyncConnection, row_ids: list[int] | None) -> list[int]:
    if row_ids is None:
        dead = select(webhook_events.c.id).where(webhook_events.c.status == EventStatus.DEAD)
        row_ids = list((await conn.execute(dead)).scalars())
        if not row_ids:
            return []
    await event_log.replay(conn, now=time.time(), actor="cli", row_ids=row_ids)
    return row_ids


async def _watch(ids: list[int], patience: float, *, quiet: bool) -> int:
    """Poll until the replayed rows leave the queue; a progress bar while it lasts."""
    queued = (EventStatus.PENDING, EventStatus.PROCESSING)
    count = (
        select(func.count())
        .select_from(webhook_events)
        .where(webhook_events.c.id.in_(ids), webhook_events.c.status.in_(queued))
    )
    engine = build_engine(Settings.from_env())
    deadline = time.monotonic() + patience
    try:
        with Progress(console=console, transient=True, disable=quiet) as bar:
            task = bar.add_task("Processing replayed events", total=len(ids))
            while True:
                async with engine.connect() as conn:
                    left = int((await conn.execute(count)).scalar_one())
                bar.update(task, completed=len(ids) - left)
                if left == 0 or time.monotonic() > deadline:
                    return left
                await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


def _when(ts: Any) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")
