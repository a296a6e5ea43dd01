"""`flexfulfill stock set|import|list`: stock on hand per Flex product."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from flexfulfill.bootstrap import build_engine, build_flex_client
from flexfulfill.config import Settings
from flexfulfill.domain.inventory import is_low
from flexfulfill.fulfillment.ports import ProductLister
from flexfulfill.store import stock as stock_store
from flexfulfill.store.statuses import MovementReason

console = Console()
stock_app = typer.Typer(help="Stock on hand per Flex product.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(stock_app, name="stock")


@stock_app.command(
    "set", epilog="Example: flexfulfill stock set fprod_01HW5MXAPBE79RHMMJJGB4ACAB 120"
)
def set_stock(
    product_id: str = typer.Argument(..., help="The Flex product id (fprod_…)"),
    on_hand: int = typer.Argument(..., help="Units on hand now"),
    name: str = typer.Option(None, help="A name to show next to the id"),
) -> None:
    """Set one product's stock (recorded as an adjustment movement)."""
    if not product_id.startswith("fprod_"):
        console.print(
            f"[yellow]Note:[/] {product_id!r} does not look like a Flex product id (fprod_…)."
        )
    asyncio.run(_set_many([(product_id, on_hand, name)], MovementReason.ADJUST))
    console.print(f"[green]✓[/] {product_id} on hand: {on_hand}")


@stock_app.command(
    "import",
    epilog="Example: flexfulfill stock import stock.csv   |   flexfulfill stock import --from-flex",
)
def import_stock(
    path: Annotated[
        Path | None, typer.Argument(help="CSV with columns product_id,on_hand[,name]")
    ] = None,
    from_flex: bool = typer.Option(False, "--from-flex", help="Track every product Flex lists"),
    on_hand: int = typer.Option(0, help="With --from-flex: units for products not yet tracked"),
) -> None:
    """Import stock levels from a CSV file, or start tracking the products in Flex."""
    if from_flex:
        count = asyncio.run(_from_flex(on_hand))
    elif path is not None:
        count = asyncio.run(_set_many(_read_csv(path), MovementReason.IMPORT))
    else:
        console.print("[red]Give a CSV file[/] (product_id,on_hand[,name]) or --from-flex.")
        raise typer.Exit(2)
    console.print(f"[green]✓[/] {count} product(s) imported")


def _read_csv(path: Path) -> list[tuple[str, int, str | None]]:
    if not path.is_file():
        console.print(f"[red]No such file:[/] {path}")
        raise typer.Exit(1)
    rows = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                rows.append(
                    (row["product_id"].strip(), int(row["on_hand"]), row.get("name") or None)
                )
            except (KeyError, ValueError, AttributeError):
                console.print(
                    f"[red]{path}:{number}:[/] need product_id and a whole-number on_hand"
                )
                raise typer.Exit(1) from None
    return rows


async def _set_many(rows: list[tuple[str, int, str | None]], reason: MovementReason) -> int:
    engine = build_engine(Settings.from_env())
    try:
        async with engine.begin() as conn:
            for product_id, level, name in track(rows, "Importing stock", console=console):
                await stock_store.set_level(
                    conn, product_id, level, now=time.time(), name=name, reason=reason
                )
    finally:
        await engine.dispose()
    return len(rows)


async def _from_flex(on_hand: int) -> int:
    settings = Settings.from_env(require=("FLEX_API_KEY",))
    flex = build_flex_client(settings)
    try:
        rows = await _untracked(flex, settings)
    finally:
        await flex.aclose()
    return await _set_many([(p, on_hand, n) for p, n in rows], MovementReason.IMPORT)


async def _untracked(flex: ProductLister, settings: Settings) -> list[tuple[str, str | None]]:
    engine = build_engine(settings)
    try:
        async with engine.connect() as conn:
            tracked = {level.product_id for level in await stock_store.levels(conn)}
    finally:
        await engine.dispose()
    found: list[tuple[str, str | None]] = []
    with console.status("Listing Flex products…") as status:
        async for product in flex.list_products():
            if product.product_id not in tracked:
                found.append((product.product_id, product.name))
            status.update(f"Listing Flex products… {len(found)} new")
    return found


@stock_app.command("list", epilog="Example: flexfulfill stock list --low --json")
def list_stock(
    low: bool = typer.Option(False, "--low", help="Only products at or below their threshold"),
    json_output: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Stock on hand per product; negative means backordered."""
    levels = asyncio.run(_levels())
    if low:
        levels = [lv for lv in levels if is_low(lv.on_hand, lv.low_stock_threshold)]
    if json_output:
        typer.echo(json.dumps([lv.__dict__ for lv in levels]))
        return
    table = Table(title=f"{len(levels)} products")
    for column in ("product", "name", "on hand", "threshold"):
        table.add_column(column)
    for lv in levels:
        style = (
            "red"
            if lv.on_hand < 0
            else "yellow"
            if is_low(lv.on_hand, lv.low_stock_threshold)
            else ""
        )
        table.add_row(
            lv.product_id,
            lv.name or "",
            f"[{style}]{lv.on_hand}[/]" if style else str(lv.on_hand),
            str(lv.low_stock_threshold),
        )
    console.print(table)


async def _levels() -> list[stock_store.StockLevel]:
    engine = build_engine(Settings.from_env())
    try:
        async with engine.connect() as conn:
            return await stock_store.levels(conn)
    finally:
        await engine.dispose()
