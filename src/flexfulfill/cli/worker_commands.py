"""`flexfulfill worker` and `flexfulfill reconcile`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from flexfulfill.bootstrap import (
    build_engine,
    build_flex_client,
    build_receipt_task,
    build_worker,
)
from flexfulfill.config import Settings
from flexfulfill.fulfillment.reconciler import Reconciler, ReconcileRun

console = Console()


def register(app: typer.Typer) -> None:
    app.command(
        epilog="Example: FLEX_API_KEY=fsk_test_… DATABASE_URL=postgresql://db/shop "
        "flexfulfill worker --concurrency 32"
    )(worker)
    app.command(epilog="Example: FLEX_API_KEY=fsk_test_… flexfulfill reconcile --json")(reconcile)


def worker(
    concurrency: int = typer.Option(16, min=1, help="Events handled at the same time"),
    no_reconcile: bool = typer.Option(False, "--no-reconcile", help="Do not run the reconciler"),
    nice: int = typer.Option(
        10,
        min=0,
        max=19,
        help="Lower this process's CPU priority by this much, so receivers on the same "
        "machine keep acknowledging promptly while a backlog drains (0: unchanged)",
    ),
) -> None:
    """Process stored webhook events until stopped (Ctrl-C or SIGTERM).

    Claims due events from DATABASE_URL (several workers may share one PostgreSQL database),
    runs their handlers against the Flex API (FLEX_API_KEY, FLEX_API_BASE) and, unless told
    otherwise, reconciles every RECONCILE_INTERVAL_SECONDS. `serve` runs one by default.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_env(require=("FLEX_API_KEY",))
    if nice:
        # Fulfillment is background work; acknowledging webhooks is what Flex waits on.
        os.nice(nice)
    asyncio.run(_work(settings, concurrency, reconcile=not no_reconcile))


async def _work(settings: Settings, concurrency: int, *, reconcile: bool) -> None:
    engine = build_engine(settings)
    flex = build_flex_client(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner = build_worker(settings, engine, flex, concurrency=concurrency)
        console.print(f"worker {runner.name} started (concurrency {concurrency})")
        tasks = [runner.run(stop), build_receipt_task(settings, engine)(stop)]
        if reconcile:
            tasks.append(Reconciler(runner.services).run_forever(settings.reconcile_interval, stop))
        await asyncio.gather(*tasks)
    finally:
        await flex.aclose()
        await engine.dispose()
    console.print("worker stopped")


def reconcile(
    json_output: bool = typer.Option(False, "--json", help="Print the run as JSON"),
) -> None:
    """Fulfill completed Flex checkouts that have no order yet (webhooks that never came).

    Lists sessions completed since the stored cursor (minus an overlap), fulfills the missing
    ones exactly as the webhook would, and records the run. Safe to run at any time.
    """
    settings = Settings.from_env(require=("FLEX_API_KEY",))
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=json_output,
    ) as bar:
        task = bar.add_task("Listing completed Flex sessions…", total=None)

        def report(seen: int, created: int) -> None:
            bar.update(task, description=f"{seen} sessions checked, {created} orders created")

        run = asyncio.run(_reconcile(settings, report))
    if json_output:
        typer.echo(json.dumps(run.__dict__))
    else:
        _print_run(run)
    if run.error:
        raise typer.Exit(1)


async def _reconcile(settings: Settings, progress: Callable[[int, int], None]) -> ReconcileRun:
    engine = build_engine(settings)
    flex = build_flex_client(settings)
    try:
        services = build_worker(settings, engine, flex).services
        return await Reconciler(services).run_once(actor="cli", progress=progress)
    finally:
        await flex.aclose()
        await engine.dispose()


def _print_run(run: ReconcileRun) -> None:
    table = Table(title="Reconciliation")
    for column in ("sessions seen", "orders created", "since", "cursor now"):
        table.add_column(column)
    table.add_row(
        str(run.sessions_seen), str(run.orders_created), f"{run.since:.0f}", f"{run.cursor:.0f}"
    )
    console.print(table)
    if run.error:
        console.print(f"[red]Stopped early:[/] {run.error}")
        console.print("The cursor did not move; run it again when Flex answers.")
