"""`flexfulfill receipts list|show|resend|preview|send` and `flexfulfill mailserver`."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_engine, build_receipt_renderer, receipt_sender
from flexfulfill.clock import Clock
from flexfulfill.config import Settings
from flexfulfill.mail import MailboxHandler, Sender, SmtpServer, list_mail
from flexfulfill.mail.samples import SPLIT_SUBSCRIPTION
from flexfulfill.mail.sender import message_for
from flexfulfill.store import outbox
from flexfulfill.store.outbox import NoReceiptError, OutboxRow
from flexfulfill.store.statuses import OutboxStatus

T = TypeVar("T")
console = Console()
err = Console(stderr=True)
receipts = typer.Typer(
    help="Receipt emails: what was sent, what failed, and sending again.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")
STATUS = typer.Option(None, help="Only rows in this status.")


def register(app: typer.Typer) -> None:
    app.add_typer(receipts, name="receipts")
    app.command(
        epilog="Example: flexfulfill mailserver --port 2525, then "
        "SMTP_URL=smtp://127.0.0.1:2525 flexfulfill worker"
    )(mailserver)


def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = build_engine(Settings.from_env())
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _when(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()[:19]


def _as_json(row: OutboxRow) -> dict[str, Any]:
    data = {k: getattr(row, k) for k in row.__slots__ if k != "payload"}
    data["status"] = row.status.value
    return data


def _table(rows: list[OutboxRow], title: str) -> Table:
    table = Table(title=title)
    for column in ("row", "order", "status", "tries", "recipient", "message id", "sent / next"):
        table.add_column(column)
    table.add_column("last error", overflow="fold")
    for r in rows:
        when = _when(r.sent_at if r.status is OutboxStatus.SENT else r.next_attempt_at)
        order = "" if r.order_id is None else str(r.order_id)
        cells = (str(r.id), order, r.status.value, str(r.attempts), r.recipient or "")
        table.add_row(*cells, r.message_id or "", when, r.last_error or "")
    return table


@receipts.command("list", epilog="Example: flexfulfill receipts list --status failed --json")
def list_(
    status: OutboxStatus | None = STATUS,
    limit: int = typer.Option(50, min=1, help="How many rows, newest first."),
    as_json: bool = JSON,
) -> None:
    """List receipt rows of the outbox, newest first, with their delivery state."""
    rows = _with_engine(lambda e: outbox.list_rows(e, status=status, limit=limit))
    if as_json:
        console.print_json(json.dumps([_as_json(r) for r in rows]))
    else:
        console.print(_table(rows, "Receipts"))


async def _order_id(engine: AsyncEngine, ref: str) -> int:
    order_id = await outbox.resolve_order(engine, ref)
    if order_id is None:
        err.print(
            f"[red]No order matches {ref!r}.[/] Give an order id (12), an order number "
            "(FF-000012) or a checkout session id (fcs_…); `flexfulfill receipts list` shows them."
        )
        raise typer.Exit(1)
    return order_id


@receipts.command(epilog="Example: flexfulfill receipts show FF-000012 --html")
def show(
    order: str = typer.Argument(..., help="Order id, order number (FF-…) or checkout session."),
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text."),
    as_json: bool = JSON,
) -> None:
    """Show an order's receipt rows and the message its newest row sends."""

    async def work(engine: AsyncEngine) -> list[OutboxRow]:
        return await outbox.list_rows(engine, order_id=await _order_id(engine, order))

    rows = _with_engine(work)
    if as_json:
        console.print_json(json.dumps([_as_json(r) for r in rows]))
        return
    console.print(_table(rows, f"Receipts of order {order}"))
    if rows:
        _print_message(rows[0], html=html)


def _print_message(row: OutboxRow, *, html: bool) -> None:
    settings = Settings.from_env()
    sender = Sender(settings.receipt_from, settings.merchant_name, settings.receipt_reply_to)
    message = message_for(row, build_receipt_renderer(settings), sender)
    wanted = "text/html" if html else "text/plain"
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        console.print(f"[bold]{name}:[/] {message[name]}", highlight=False)
    for part in message.walk():
        if part.get_content_type() == wanted:
            body = part.get_payload(decode=True)
            assert isinstance(body, bytes)
            console.print(body.decode("utf-8"), highlight=False, markup=False)


@receipts.command(epilog="Example: flexfulfill receipts resend FF-000012 --to new@example.com")
def resend(
    order: str = typer.Argument(..., help="Order id, order number (FF-…) or checkout session."),
    to: str | None = typer.Option(None, help="Send to this address instead of the customer's."),
    actor: str | None = typer.Option(None, help="Who asks, for the audit log [default: cli:$USER]"),
    as_json: bool = JSON,
) -> None:
    """Send an order's receipt again, on purpose: a new message with its own Message-ID."""
    who = actor or f"cli:{getpass.getuser()}"

    async def work(engine: AsyncEngine) -> OutboxRow:
        order_id = await _order_id(engine, order)
        now = Clock().now()
        try:
            return await outbox.enqueue_resend(engine, order_id, actor=who, now=now, recipient=to)
        except NoReceiptError as exc:
            err.print(f"[red]{exc}.[/] Its receipt is written when the order is fulfilled.")
            raise typer.Exit(1) from exc
        except IntegrityError as exc:
            err.print("[red]Another resend of this order was queued at the same moment.[/] Retry.")
            raise typer.Exit(1) from exc

    row = _with_engine(work)
    if as_json:
        console.print_json(json.dumps(_as_json(row)))
    else:
        console.print(f"[green]✓[/] queued {row.message_id} to {row.recipient} (row {row.id})")


@receipts.command(
    epilog="Example: RECEIPT_TEMPLATES_DIR=./mail flexfulfill receipts preview --html"
)
def preview(
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text."),
) -> None:
    """Render a sample receipt with the configured templates (checks RECEIPT_TEMPLATES_DIR)."""
    rendered = build_receipt_renderer(Settings.from_env()).render(SPLIT_SUBSCRIPTION)
    console.print(f"[bold]Subject:[/] {rendered.subject}", highlight=False)
    console.print(rendered.html if html else rendered.text, highlight=False, markup=False)


@receipts.command(
    epilog="Example: SMTP_URL=smtp+starttls://u:p@smtp.example.com flexfulfill receipts send --once"
)
def send(
    once: bool = typer.Option(False, "--once", help="Send what is due now, then exit."),
) -> None:
    """Run the receipt sender (the worker runs one too); no SMTP_URL: into the local mailbox."""
    settings = Settings.from_env()

    async def work(engine: AsyncEngine) -> None:
        async with receipt_sender(settings, engine) as sender:
            if not once:
                await sender.run()
                return
            report = await sender.drain()
            counts = ", ".join(f"{n} {o.value}" for o, n in report.counts.items()) or "nothing due"
            console.print(f"receipts: {counts}")

    with contextlib.suppress(KeyboardInterrupt):
        _with_engine(work)


@receipts.command(epilog="Example: flexfulfill receipts mailbox --limit 5")
def mailbox(
    limit: int = typer.Option(20, min=1, help="How many messages, oldest first."),
    as_json: bool = JSON,
) -> None:
    """List what the local mail server received (used when SMTP_URL is unset)."""
    mails = _with_engine(lambda e: list_mail(e, limit=limit))
    if as_json:
        fields = ("id", "message_id", "mail_from", "rcpt_to", "subject", "received_at")
        console.print_json(json.dumps([{f: getattr(m, f) for f in fields} for m in mails]))
        return
    table = Table(title="Local mailbox")
    for column in ("id", "received", "to", "subject", "message id"):
        table.add_column(column)
    for m in mails:
        cells = (str(m.id), _when(m.received_at), m.rcpt_to or "", m.subject or "")
        table.add_row(*cells, m.message_id or "")
    console.print(table)


def mailserver(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(2525, min=0, max=65535, help="Port to listen on (0: any free one)."),
) -> None:
    """Run the local SMTP server that stores every message in the database's mailbox table."""

    async def work(engine: AsyncEngine) -> None:
        async with SmtpServer(MailboxHandler(engine, Clock()), host, port) as server:
            console.print(
                f"mailserver: smtp://{host}:{server.port} → mailbox table", highlight=False
            )
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        _with_engine(work)
