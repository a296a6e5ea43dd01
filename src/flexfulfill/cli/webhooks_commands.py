"""`flexfulfill webhooks register|list|delete`: the Flex endpoints that send events here."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flexfulfill.bootstrap import build_flex_client
from flexfulfill.config import ConfigError, Settings
from flexfulfill.domain.events import CHECKOUT_COMPLETED_ALT, HANDLED_EVENT_TYPES
from flexfulfill.flex import FlexClient, FlexError, Webhook

T = TypeVar("T")

# Everything the worker acts on; the guide's one-off misspelling is not a subscribable type.
DEFAULT_EVENTS = tuple(sorted(HANDLED_EVENT_TYPES - {CHECKOUT_COMPLETED_ALT}))

webhooks = typer.Typer(
    help="Register, list and delete the Flex webhook endpoints (FLEX_API_KEY, FLEX_API_BASE).",
    no_args_is_help=True,
)

EventsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--events",
        "-e",
        help="Event type to subscribe to; repeat or comma-separate. "
        "Default: every type flexfulfill handles.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks, name="webhooks")


@webhooks.command(
    "register",
    epilog="Example: flexfulfill webhooks register https://shop.example.com/webhook "
    "--events checkout.session.completed --events refund.updated",
)
def register_endpoint(
    url: Annotated[str, typer.Argument(help="Where Flex should POST events (https://…).")],
    events: EventsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register URL with Flex and print its signing secret, once: Flex will not show it again."""
    if not url.startswith(("https://", "http://")):
        raise typer.BadParameter("give a full URL, e.g. https://shop.example.com/webhook")
    types = _event_types(events)
    params = {"url": url, "events": list(types)}
    webhook = _run(lambda flex: flex.create_webhook(params))
    if as_json:
        typer.echo(json.dumps(webhook.model_dump(mode="json"), indent=2))
        return
    _print_created(webhook)


@webhooks.command("list", epilog="Example: flexfulfill webhooks list --json")
def list_endpoints(as_json: JsonOption = False) -> None:
    """List the webhook endpoints registered for this API key's mode (test or live)."""
    found = _run(_all_webhooks)
    if as_json:
        rows = [w.model_dump(mode="json", exclude={"signing_secret"}) for w in found]
        typer.echo(json.dumps(rows, indent=2))
        return
    Console().print(_table(found) if found else "No webhook endpoints registered.")


@webhooks.command("delete", epilog="Example: flexfulfill webhooks delete fwh_01J9XR8M3K7VZ8N2")
def delete_endpoint(
    webhook_id: Annotated[str, typer.Argument(help="The endpoint's id, from `webhooks list`.")],
    as_json: JsonOption = False,
) -> None:
    """Delete a webhook endpoint: Flex stops sending events to it."""
    _run(lambda flex: flex.delete_webhook(webhook_id))
    if as_json:
        typer.echo(json.dumps({"deleted": webhook_id}))
    else:
        Console().print(f"[green]✓[/] deleted {webhook_id}")


def _event_types(events: list[str] | None) -> tuple[str, ...]:
    types = [part.strip() for raw in events or () for part in raw.split(",") if part.strip()]
    return tuple(dict.fromkeys(types)) or DEFAULT_EVENTS


async def _all_webhooks(flex: FlexClient) -> list[Webhook]:
    return [webhook async for webhook in flex.list_webhooks()]


def _run(call: Callable[[FlexClient], Awaitable[T]]) -> T:
    """Run one Flex call; configuration and Flex errors end in one line saying what to do."""
    err = Console(stderr=True)
    try:
        return asyncio.run(_with_client(Settings.from_env(), call))
    except ConfigError as exc:
        err.print(f"[bold red]Configuration error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except FlexError as exc:
        err.print(f"[bold red]Flex error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


async def _with_client(settings: Settings, call: Callable[[FlexClient], Awaitable[T]]) -> T:
    async with build_flex_client(settings) as flex:
        return await call(flex)


def _print_created(webhook: Webhook) -> None:
    out = Console()
    mode = "test" if webhook.test_mode else "live" if webhook.test_mode is False else "?"
    out.print(f"[green]✓[/] registered {webhook.webhook_id} → {webhook.url} ({mode} mode)")
    out.print(f"  events: {', '.join(webhook.events)}")
    if not webhook.signing_secret:
        out.print("[yellow]Flex returned no signing secret; copy it from the Flex dashboard.[/]")
        return
    out.print("\n[bold]Signing secret[/] (shown only now; Flex will not show it again):")
    out.print(webhook.signing_secret, markup=False, highlight=False, soft_wrap=True)
    out.print(
        "\nPut it in FLEX_WEBHOOK_SECRET where `flexfulfill serve` runs, e.g.\n"
        f"  export FLEX_WEBHOOK_SECRET={webhook.signing_secret}\n"
        "To rotate, list the new and the old secret comma-separated until the old one is gone.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _table(found: list[Webhook]) -> Table:
    table = Table()
    widest = max(len(webhook.webhook_id) for webhook in found)
    table.add_column("ID", no_wrap=True, min_width=widest)  # ids are copied: never wrap them
    table.add_column("URL", overflow="fold")
    table.add_column("Events", overflow="fold")
    table.add_column("Enabled")
    table.add_column("Mode")
    for webhook in found:
        table.add_row(
            webhook.webhook_id,
            webhook.url,
            "\n".join(webhook.events),
            _yes_no(webhook.enabled),
            "test" if webhook.test_mode else "live",
        )
    return table


def _yes_no(value: Any) -> str:
    return "—" if value is None else "yes" if value else "no"
