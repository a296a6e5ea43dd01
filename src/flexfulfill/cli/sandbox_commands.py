"""`flexfulfill sandbox` (a local, stateful Flex) and `flexfulfill trigger` (a checkout, paid)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from flexfulfill.sandbox.app import build_sandbox
from flexfulfill.sandbox.faults import Faults
from flexfulfill.sandbox.retry import FIVE_DAYS, RetryPolicy
from flexfulfill.sandbox.runner import new_test_key, run_async, serve_until_signal
from flexfulfill.sandbox.trigger import TriggerRequest, run_trigger

console = Console()
err = Console(stderr=True)
DEFAULT_DATABASE = "flexfulfill-sandbox.sqlite3"

SANDBOX_EPILOG = (
    "Example: flexfulfill sandbox --port 4243 --time-scale 0.01 --duplicate-rate 0.1\n\n"
    "Then: FLEX_API_BASE=http://127.0.0.1:4243 FLEX_API_KEY=fsk_test_anything flexfulfill serve"
)
TRIGGER_EPILOG = (
    "Examples: flexfulfill trigger --client-reference-id order-42 --metadata channel=web\n\n"
    "flexfulfill trigger --split --card 4000000000009995   (a split cart, declined)\n\n"
    "flexfulfill trigger customer.subscription.created --json"
)


def register(app: typer.Typer) -> None:
    app.command(epilog=SANDBOX_EPILOG)(sandbox)
    app.command(epilog=TRIGGER_EPILOG)(trigger)


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 4243,
    database: Annotated[str, typer.Option(help="SQLite file or database URL.")] = DEFAULT_DATABASE,
    time_scale: Annotated[float, typer.Option(help="Multiplies every retry delay.")] = 1.0,
    timeout: Annotated[float, typer.Option(help="Delivery timeout, seconds.")] = 15.0,
    disable_after: Annotated[
        float, typer.Option(help="Disable an endpoint failing this long (s, × scale).")
    ] = FIVE_DAYS,
    seed: Annotated[int | None, typer.Option(help="Seed jitter and faults.")] = None,
    duplicate_rate: Annotated[float, typer.Option(help="Chance of a duplicate delivery.")] = 0.0,
    reorder_window: Annotated[float, typer.Option(help="Shuffle first attempts within s.")] = 0.0,
    drop_first_rate: Annotated[float, typer.Option(help="Chance to drop a first attempt.")] = 0.0,
    extra_delay: Annotated[float, typer.Option(help="Delay every first attempt by s.")] = 0.0,
    clock_skew: Annotated[float, typer.Option(help="Add s to svix-timestamp.")] = 0.0,
) -> None:
    """Run the Flex sandbox: Flex's API under /v1, events and signed webhook delivery."""
    faults = Faults(
        duplicate_rate=duplicate_rate,
        reorder_window=reorder_window,
        drop_first_attempt_rate=drop_first_rate,
        extra_delay=extra_delay,
        signing_clock_skew=clock_skew,
        seed=seed,
    )
    policy = RetryPolicy(time_scale=time_scale, timeout=timeout, disable_after=disable_after)
    try:
        run_async(_serve(host, port, _database_url(database), policy, faults))
    except KeyboardInterrupt:
        err.print("sandbox stopped")


def _database_url(database: str) -> str:
    return database if "://" in database else f"sqlite:///{Path(database).resolve()}"


async def _serve(host: str, port: int, url: str, policy: RetryPolicy, faults: Faults) -> None:
    app, state = build_sandbox(url, policy=policy, faults=faults, seed=faults.seed)
    await state.start()
    try:
        await serve_until_signal(app, host, port, lambda bound: _banner(host, bound, url))
    finally:
        await state.stop()
        await state.store.engine.dispose()


def _banner(host: str, port: int, url: str) -> None:
    table = Table(title="Flex sandbox", show_header=False)
    table.add_row("API base", f"http://{host}:{port}")
    table.add_row("API key", f"{new_test_key()}  (any fsk_test_… key works)")
    where = url.split("///")[-1] if url.startswith("sqlite") else "(the given database URL)"
    table.add_row("Database", where)
    table.add_row("Stop", "Ctrl-C")
    console.print(table)


def trigger(
    event: Annotated[
        str,
        typer.Argument(
            help="checkout.session.completed, customer.subscription.created or refund.updated"
        ),
    ] = "checkout.session.completed",
    sandbox_url: Annotated[
        str, typer.Option(envvar="FLEX_API_BASE", help="Sandbox base URL.")
    ] = "http://127.0.0.1:4243",
    api_key: Annotated[
        str, typer.Option(envvar="FLEX_API_KEY", help="A fsk_test_ key.")
    ] = "fsk_test_trigger",
    price: Annotated[list[str] | None, typer.Option(help="Existing price id(s) to buy.")] = None,
    client_reference_id: Annotated[
        str | None, typer.Option(help="The merchant's order reference.")
    ] = None,
    metadata: Annotated[list[str] | None, typer.Option(help="key=value, repeatable.")] = None,
    customer: Annotated[str | None, typer.Option(help="An existing customer id (fcus_…).")] = None,
    email: Annotated[
        str, typer.Option(help="Contact e-mail for a new customer.")
    ] = "shopper@example.com",
    card: Annotated[
        str, typer.Option(help="Card number (4000000000009995 declines).")
    ] = "4242424242424242",
    second_card: Annotated[str | None, typer.Option(help="Regular card of a split cart.")] = None,
    split: Annotated[bool, typer.Option(help="Buy an eligible and a non-eligible item.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session as JSON.")] = False,
) -> None:
    """Create a checkout session in the sandbox and pay it, as a shopper would."""
    request = TriggerRequest(
        event=event,
        prices=price or [],
        client_reference_id=client_reference_id,
        metadata=_pairs(metadata or []),
        customer=customer,
        email=email,
        card=card,
        second_card=second_card,
        split=split,
    )
    try:
        result = asyncio.run(run_trigger(sandbox_url, api_key, request))
    except httpx.HTTPError as exc:
        err.print(
            f"[red]Cannot reach the sandbox at {sandbox_url}:[/] {exc}. "
            "Start it with `flexfulfill sandbox` or pass --sandbox-url."
        )
        raise typer.Exit(1) from None
    _report(result, as_json)


def _pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(
                f"{item!r}: write metadata as key=value", param_hint="--metadata"
            )
        pairs[key] = value
    return pairs


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result))
    elif "detail" in result:
        err.print(f"[red]{result['status']}[/] " + "; ".join(d["msg"] for d in result["detail"]))
    else:
        session = result["checkout_session"]
        table = Table(title="Checkout completed", show_header=False)
        for key in (
            "checkout_session_id",
            "status",
            "mode",
            "amount_total",
            "customer",
            "client_reference_id",
            "subscription",
        ):
            table.add_row(key, str(session.get(key, "")))
        table.add_row("payment_intents", ", ".join(session.get("payment_intents", [])))
        console.print(table)
    if "detail" in result:
        raise typer.Exit(1)
