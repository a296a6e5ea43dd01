"""The chaos run's report: Rich tables on the terminal, Markdown for docs/benchmarks.md."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bench.chaos.run import ChaosReport
from bench.chaos.storm import retry_span


def storm_lines(report: ChaosReport) -> list[tuple[str, str]]:
    """What was injected, as (fault, how much) pairs."""
    log, plan, cfg = report.storm, report.config.plan, report.config
    kills = ", ".join(f"{role} {n}" for role, n in sorted(log.kills.items())) or "none"
    api = ", ".join(f"{k[4:]} {n}" for k, n in sorted(log.api_stretches.items())) or "none"
    return [
        ("duplicate deliveries", f"{plan.duplicate_rate:.0%} of successes sent again"),
        ("reordering", f"first attempts shuffled within {plan.reorder_window:g} s"),
        ("dropped first attempts", f"{plan.drop_first_rate:.0%}"),
        ("SIGKILLs (then restarted)", kills),
        ("SMTP refusing (421)", f"{log.smtp_stretches} stretches, {log.smtp_refusing_s:.0f} s"),
        ("Flex API 429 / 5xx", f"{api} stretches at {plan.api_rate:.0%}, {log.api_faulty_s:.0f} s"),
        (
            "webhook endpoint down",
            f"{log.outages} × {log.outage_s / max(1, log.outages):.0f} s "
            f"(retry schedule {retry_span(cfg.time_scale):.0f} s at time scale {cfg.time_scale:g})",
        ),
        ("poisoned events", str(len(log.poisoned))),
    ]


def summary(report: ChaosReport) -> str:
    cfg = report.config
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(report.kinds.items()))
    via = ", ".join(f"{k} {n:,}" for k, n in sorted(report.orders_via.items()))
    quiet = "never" if report.quiet_s is None else f"{report.quiet_s:.0f} s"
    rate = sum(report.kinds.values()) / report.shop_s if report.shop_s else 0.0
    return (
        f"{cfg.engine}: {sum(report.kinds.values()):,} checkouts ({kinds}); {report.paid:,} paid; "
        f"{cfg.receivers} receivers, {cfg.workers} workers, {cfg.senders} receipt sender; "
        f"start-up {report.setup_s:.0f} s, shopping {report.shop_s:.0f} s "
        f"({rate:.1f} checkouts/s), quiet after {quiet} more; "
        f"orders by {via}; shopper API retries {report.api_retries:,}."
    )


def print_report(report: ChaosReport, console: Console | None = None) -> None:
    console = console or Console()
    faults = Table(title=f"Chaos run on {report.config.engine}: what went wrong on purpose")
    faults.add_column("fault")
    faults.add_column("injected")
    for row in storm_lines(report):
        faults.add_row(*row)
    console.print(faults)
    checks = Table(title="Checks")
    for column in ("check", "expected", "found", "", "note"):
        checks.add_column(column, overflow="fold")
    for c in report.checks:
        mark = "[green]✓[/]" if c.ok else "[bold red]✗[/]"
        checks.add_row(c.name, c.expected, c.found, mark, c.note)
    console.print(checks)
    console.print(summary(report), highlight=False)
    verdict = "[green]PASSED[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(f"chaos run {verdict}" + (f"; logs kept in {report.logs}" if report.logs else ""))


def markdown(report: ChaosReport) -> str:
    lines = [
        f"### {report.config.engine}",
        "",
        summary(report),
        "",
        "| Check | Expected | Found | |",
        "|---|---:|---:|---|",
    ]
    for c in report.checks:
        note = f" ({c.note})" if c.note else ""
        lines.append(f"| {c.name}{note} | {c.expected} | {c.found} | {'✓' if c.ok else '✗'} |")
    lines += ["", "| Fault | Injected |", "|---|---|"]
    lines += [f"| {name} | {what} |" for name, what in storm_lines(report)]
    return "\n".join(lines)
