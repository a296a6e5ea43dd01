"""The chaos run in miniature (`make chaos` is the full one): real processes, every fault at
once, a couple of hundred checkouts, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from bench.chaos.run import ChaosConfig, ChaosReport, run_chaos

pytestmark = pytest.mark.slow


def _failures(report: ChaosReport) -> str:
    failed = [c for c in report.checks if not c.ok]
    lines = [f"{c.name}: expected {c.expected}, found {c.found} {c.note}" for c in failed]
    return "\n".join([*lines, f"logs: {report.logs}"])


async def test_nothing_is_lost_or_doubled_through_the_storm(database_url: str) -> None:
    """Kills, duplicates, reordering, drops, outages and refusals: every chaos check holds."""
    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    config = ChaosConfig(
        n=200,
        engine=engine,
        database_url=database_url,
        shoppers=32,
        time_scale=5e-5,
        reconcile_interval=3,
        quiet_timeout=120,
    )
    report = await run_chaos(config)
    assert report.ok, _failures(report)
    assert report.storm.kills.total() > 0
    assert report.orders_via["reconciler"] > 0
