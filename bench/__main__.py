"""`python -m bench`: every benchmark in one go; each writes its section of docs/benchmarks.md."""

from __future__ import annotations

import importlib
import sys

# Each entry is a module in bench/ with a `main() -> None`. Areas add theirs here.
BENCHMARKS: list[str] = [
    "ingest",
    "fulfillment",
    "sandbox_delivery",
    "growth",
    "isolation",
    "receipts",
    "chaos",  # last: the longest, and it exits non-zero when a check fails
]


def run(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        print(f"== bench.{name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    run(sys.argv[1:])
