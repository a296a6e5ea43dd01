"""The chaos run's checks fail when the databases disagree with what the shoppers did."""

from __future__ import annotations

from collections import Counter

from bench.chaos.driver import Purchase
from bench.chaos.verify import Facts, inbox_checks, order_checks, receipt_checks

START = {"fprod_a": 100}


def _purchase(session: str, qty: int, paid: bool = True) -> Purchase:
    return Purchase(0, "plain", session, Counter({"fprod_a": qty}), paid)


def _facts() -> Facts:
    facts = Facts(
        completed={"fcs_1", "fcs_2"}, orders={"fcs_1": (1, "webhook"), "fcs_2": (2, "reconciler")}
    )
    facts.lines = {1: Counter({"fprod_a": 2}), 2: Counter({"fprod_a": 1})}
    facts.line_movements = [1, 1]
    facts.stock = {"fprod_a": 97}
    facts.receipts = {1: ("sent", "<r1@x>"), 2: ("sent", "<r2@x>")}
    facts.mail = Counter({"<r1@x>": 1, "<r2@x>": 1})
    facts.sent = {"msg_1", "msg_2"}
    facts.sandbox_messages = {"msg_1": "succeeded", "msg_2": "succeeded", "msg_3": "failed"}
    facts.inbox = {"msg_1": "done", "msg_2": "done", "msg_poison": "dead"}
    facts.lost_completions = {"fcs_2": "msg_3"}
    return facts


def _all(facts: Facts, sender_kills: tuple[float, ...] = ()) -> list[bool]:
    purchases = [_purchase("fcs_1", 2), _purchase("fcs_2", 1), _purchase("fcs_3", 5, paid=False)]
    checks = order_checks(facts, purchases, START)
    checks += receipt_checks(facts, list(sender_kills), [])
    checks += inbox_checks(facts, ["msg_poison"], outages=1)
    return [c.ok for c in checks]


def test_consistent_facts_pass_every_check() -> None:
    """A run where everything adds up passes every check (the baseline of the others)."""
    assert all(_all(_facts()))


def test_a_missing_order_fails() -> None:
    """A completed session without an order is caught."""
    facts = _facts()
    del facts.orders["fcs_2"]
    assert not all(_all(facts))


def test_a_second_stock_movement_fails() -> None:
    """An order line moved twice, or stock off by its quantity, is caught."""
    facts = _facts()
    facts.line_movements = [1, 2]
    facts.stock = {"fprod_a": 96}
    assert not all(_all(facts))


def test_a_repeated_receipt_without_a_sender_kill_between_its_copies_fails() -> None:
    """A Message-ID delivered twice is explained only by a sender kill between the copies."""
    facts = _facts()
    facts.mail["<r1@x>"] = 2
    facts.mail_times = {"<r1@x>": [100.0, 130.0]}
    assert not all(_all(facts))
    assert not all(_all(facts, sender_kills=(50.0, 200.0)))
    assert all(_all(facts, sender_kills=(50.0, 110.0)))
    assert receipt_checks(facts, [], [120.0])[-1].ok  # an SMTP cut explains it too


def test_a_delivered_message_missing_from_the_inbox_fails() -> None:
    """A message the sandbox got a 2xx for must be in the inbox."""
    facts = _facts()
    del facts.inbox["msg_2"]
    assert not all(_all(facts))


def test_an_unpoisoned_dead_event_fails() -> None:
    """Only the deliberately poisoned events may be dead."""
    facts = _facts()
    facts.inbox["msg_1"] = "dead"
    assert not all(_all(facts))
