"""`flexfulfill doctor`: a go-live checklist of this deployment, each line saying what to fix."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flexfulfill.bootstrap import build_engine, build_flex_client
from flexfulfill.cli.doctor_checks import Check, Probe, Status, run_checks, summary
from flexfulfill.clock import Clock
from flexfulfill.config import Settings
from flexfulfill.flex import RetryPolicy

console = Console()
MARKS = {Status.OK: "[green]✓[/]", Status.WARN: "[yellow]![/]", Status.FAIL: "[red]✗[/]"}
# The doctor asks each question once, quickly: a slow or failing API is itself the answer.
DOCTOR_RETRY = RetryPolicy(max_attempts=2, base=0.2, cap=1.0, deadline=5.0)


def register(app: typer.Typer) -> None:
    app.command(
        epilog=(
            "Examples:\n\n"
            "  flexfulfill doctor --url https://shop.example.com\n\n"
            "  flexfulfill doctor --url https://shop.example.com --json | jq .ok"
        )
    )(doctor)


def doctor(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="FLEXFULFILL_PUBLIC_URL",
            help="This deployment's public HTTPS base URL (…/webhook is checked)",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the checklist as JSON")
    ] = False,
) -> None:
    """Check a deployment before going live (step 7 of Flex's guide) and say what to fix.

    Checks the API key (mode, and that it authenticates), the webhook registered for the
    public URL with every event the handlers need, the signing secret, the schema, SMTP, the
    reconciler's cursor, the inbox and the dashboard login. Exits 1 when any check fails.
    Reads the same environment as `serve` and `worker`.
    """
    settings = Settings.from_env()
    results = asyncio.run(_diagnose(settings, url))
    if json_output:
        typer.echo(json.dumps(summary(results), indent=2))
    else:
        _print(results)
    if any(r.status is Status.FAIL for r in results):
        raise typer.Exit(1)


async def _diagnose(settings: Settings, url: str | None) -> list[Check]:
    engine = build_engine(settings)
    flex = build_flex_client(settings, retry=DOCTOR_RETRY) if settings.flex_api_key else None
    try:
        probe = Probe(settings=settings, engine=engine, flex=flex, clock=Clock(), public_url=url)
        return await run_checks(probe)
    finally:
        if flex is not None:
            await flex.aclose()
        await engine.dispose()


def _print(results: list[Check]) -> None:
    table = Table(title="flexfulfill doctor", show_lines=False)
    table.add_column("", width=1)
    table.add_column("Check")
    table.add_column("Finding")
    table.add_column("What to do")
    for result in results:
        table.add_row(MARKS[result.status], result.name, result.detail, result.fix)
    console.print(table)
    failed = sum(r.status is Status.FAIL for r in results)
    verdict = "[green]Ready to go live.[/]" if not failed else f"[red]{failed} check(s) failed.[/]"
    console.print(verdict)
