"""`flexfulfill up`: the whole system on this machine in one command (`--demo`: and a tour)."""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from flexfulfill.cli.up_demo import DemoResult, run_demo
from flexfulfill.cli.up_stack import DASHBOARD_USER, PortInUse, Stack, local_stack
from flexfulfill.web.dashboard.render import money
from flexfulfill.web.server import run

console = Console()
# Flex calls the HSA/FSA card of a cart "primary" and the regular card of a split cart "secondary".
CARD_LABELS = {"primary": "HSA/FSA card", "secondary": "regular card"}

EPILOG = (
    "Examples:\n\n"
    "  flexfulfill up                 (then open the checkout URL it prints)\n\n"
    "  flexfulfill up --demo          (pays five checkouts, shows the orders, exits)\n\n"
    "  flexfulfill up --port 8000 --sandbox-port 8001 --data-dir ./local-data"
)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG)(up)


def up(
    demo: Annotated[
        bool, typer.Option("--demo", help="Pay a handful of checkouts, report, and exit")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface for both servers")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Merchant app port (0: any free port)")] = 4242,
    sandbox_port: Annotated[int, typer.Option(help="Sandbox port (0: any free port)")] = 4243,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the SQLite files here [default: a temporary directory]"),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Multiplies the sandbox's webhook retry delays")
    ] = 0.01,
    json_output: Annotated[bool, typer.Option("--json", help="With --demo: print JSON")] = False,
) -> None:
    """Run everything locally on SQLite: sandbox, receiver, worker, mail and dashboard.

    Starts the Flex sandbox, the merchant app (receiver, worker, success page, dashboard) and a
    local SMTP server, seeds a small catalog with stock and wires the signed webhook. Prints
    the URLs (a checkout to pay, the dashboard and its generated login, the sandbox) and runs
    until Ctrl-C. Needs no configuration and no Flex account: the environment is ignored.
    """
    with tempfile.TemporaryDirectory(prefix="flexfulfill-up-") as scratch:
        directory = data_dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            outcome = run(_up(directory, host, port, sandbox_port, time_scale, demo, json_output))
        except PortInUse as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:  # a second Ctrl-C, or one that reached a server first
            outcome = True
    if not demo:
        console.print("[green]Stopped cleanly.[/]")
    if not outcome:
        raise typer.Exit(1)


async def _up(
    directory: Path,
    host: str,
    port: int,
    sandbox_port: int,
    scale: float,
    demo: bool,
    as_json: bool,
) -> bool:
    async with AsyncExitStack() as stack_scope:
        with console.status("Starting the sandbox, the merchant app and the mail server…"):
            stack = await stack_scope.enter_async_context(
                local_stack(
                    directory, host=host, port=port, sandbox_port=sandbox_port, time_scale=scale
                )
            )
        if demo:
            result = await run_demo(stack, Console(stderr=True) if as_json else console)
            _report(result, as_json)
            return result.complete
        checkout = await stack.new_session(["thermometer", "chocolate"])
        console.print(_panel(stack, str(checkout.get("redirect_url", ""))))
        console.file.flush()
        await _until_stopped()
        console.print("Stopping…")
        console.file.flush()
    return True


async def _until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _panel(stack: Stack, checkout_url: str) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Pay a checkout", checkout_url or "(the sandbox returned no redirect_url)")
    table.add_row("Dashboard", stack.dashboard_url)
    table.add_row("  login", f"{DASHBOARD_USER} / {stack.password}")
    table.add_row("Sandbox API", f"{stack.sandbox.base_url}/v1  (key {stack.sandbox.api_key})")
    table.add_row("Webhook", f"{stack.merchant_url}/webhook  (signed by the sandbox)")
    table.add_row("Data", str(stack.data_dir))
    hint = "Test card 4242 4242 4242 4242, any future expiry, any CVC, postal code 90210."
    body = Group(table, "", hint, "Press Ctrl-C to stop.")
    return Panel(body, title="flexfulfill is up", border_style="green", expand=False)


def _report(result: DemoResult, as_json: bool) -> None:
    if as_json:
        payload = {
            "complete": result.complete,
            "orders": result.orders,
            "receipts": result.receipts,
            "stock": result.stock,
            "declines": result.declines,
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    console.print(_orders_table(result))
    console.print(_receipts_table(result))
    console.print(_stock_table(result))
    for message in result.declines:
        console.print(f"Declined first, as intended: {message}")
    if result.complete:
        console.print("[green]Every checkout became one order with one receipt sent.[/]")
    else:
        console.print("[red]Not every checkout was fulfilled in time; see the tables above.[/]")


def _orders_table(result: DemoResult) -> Table:
    table = Table(title="Orders fulfilled")
    for column in ("#", "Checkout", "Customer", "Mode", "Cards", "Total", "Via"):
        table.add_column(column, justify="right" if column == "Total" else "left")
    for order in result.orders:
        cards = ", ".join(f"{money(c['amount_received'])} {_card(c)}" for c in order["cards"])
        table.add_row(
            str(order["id"]),
            order["scenario"],
            str(order["email"]),
            order["mode"],
            cards,
            money(order["amount_total"]),
            order["fulfilled_via"],
        )
    return table


def _card(payment: dict[str, Any]) -> str:
    kind = CARD_LABELS.get(str(payment.get("payment_card_type")), "card")
    return f"{kind} ····{payment['card_last4']}" if payment.get("card_last4") else kind


def _receipts_table(result: DemoResult) -> Table:
    table = Table(title="Receipts")
    for column in ("Order", "To", "Status", "Subject (as received by the local SMTP server)"):
        table.add_column(column)
    for receipt in result.receipts:
        table.add_row(
            str(receipt["order_id"]),
            str(receipt["recipient"]),
            receipt["status"],
            str(receipt["subject"] or "—"),
        )
    return table


def _stock_table(result: DemoResult) -> Table:
    table = Table(title="Stock left")
    for column in ("Product", "Name", "On hand", "Mark"):
        table.add_column(column, justify="right" if column == "On hand" else "left")
    for row in result.stock:
        mark = "[red]backorder[/]" if row["backorder"] else "[yellow]low[/]" if row["low"] else ""
        table.add_row(row["product_id"], str(row["name"]), str(row["on_hand"]), mark)
    return table
