"""The chaos run in miniature (`make chaos` is the full one): real processes, every fault at
once, a few hundred checkouts, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from bench.chaos.run import ChaosConfig, ChaosReport, run_chaos

pytestmark = pytest.mark.slow

# A defect the chaos run found in another area, reported to its owner. While it stands, these
# checks fail in exactly the way it explains (and no other check may fail); once it is fixed
# they pass and this test passes outright.
KNOWN_DEFECT = (
    "fulfillment/checkout.py plan_checkout reads the session without expand_customer, so an "
    "order whose buyer typed the email at checkout (not prefilled in defaults) has no email "
    "and its receipt ends failed: 'has no recipient'"
)
DEFECT_CHECKS = {
    "every order knows the buyer's email",
    "every receipt row sent",
    "distinct Message-IDs delivered = orders",
}


def _failures(report: ChaosReport) -> str:
    failed = [c for c in report.checks if not c.ok]
    lines = [f"{c.name}: expected {c.expected}, found {c.found} {c.note}" for c in failed]
    return "\n".join([*lines, f"logs: {report.logs}"])


def _only_the_known_defect(report: ChaosReport) -> bool:
    facts = report.facts
    failed = {c.name for c in report.checks if not c.ok}
    unsent = len(facts.without_email)
    return (
        bool(failed)
        and failed <= DEFECT_CHECKS
        and facts.outbox_open == unsent
        and len(facts.mail) == len(facts.orders) - unsent
    )


async def test_nothing_is_lost_or_doubled_through_the_storm(database_url: str) -> None:
    """Kills, duplicates, reordering, drops, outages and refusals: every chaos check holds."""
    engine = "sqlite" if database_url.startswith("sqlite") else "postgres"
    config = ChaosConfig(
        n=200, engine=engine, database_url=database_url, time_scale=5e-5, quiet_timeout=120
    )
    report = await run_chaos(config)
    assert report.storm.kills.total() > 0
    assert report.orders_via["reconciler"] > 0
    if _only_the_known_defect(report):
        pytest.xfail(KNOWN_DEFECT)
    assert report.ok, _failures(report)
