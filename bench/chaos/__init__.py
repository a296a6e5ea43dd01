"""The chaos run: N checkouts through the sandbox while everything fails, then proof that
nothing was lost or doubled. `make chaos` (N=10000 ENGINE=sqlite,postgres), or
`.venv/bin/python -m bench.chaos --n 2000 --engine postgres`; `python -m bench chaos` runs it
with CHAOS_N (default 2000) on both engines. Writes the "chaos" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from bench.report import machine, write_section


def main() -> None:
    """`python -m bench`: both engines at CHAOS_N (default 2000) checkouts; raises on a failure."""
    n = int(os.environ.get("CHAOS_N", "2000"))
    engines = os.environ.get("CHAOS_ENGINE", "sqlite,postgres")
    if run_engines(n, engines.split(","), write=True) != 0:
        raise SystemExit(1)


def run_engines(n: int, engines: list[str], *, write: bool, **options: object) -> int:
    """Run once per engine, print each report, write the docs section; 0 when all passed."""
    from bench.chaos.run import ChaosConfig, run_chaos
    from bench.chaos.show import markdown, print_report

    reports = []
    for engine in engines:
        config = ChaosConfig(
            n=n,
            engine=engine.strip(),
            # Each reconciler run lists every session of the last day: rarer for big runs.
            reconcile_interval=5 if n <= 2000 else 15,
            quiet_timeout=max(300.0, n / 10),
            **options,  # type: ignore[arg-type]
        )
        report = asyncio.run(run_chaos(config))
        print_report(report)
        reports.append(report)
    if write:
        write_section("chaos", _section(n, engines, [markdown(r) for r in reports]))
    return 0 if all(r.ok for r in reports) else 1


def _section(n: int, engines: list[str], parts: list[str]) -> str:
    command = f"make chaos N={n} ENGINE={','.join(engines)}"
    body = "\n\n".join(parts)
    return f"""## Chaos run (`bench/chaos/`)

Command: `{command}`. Machine: {machine()}. Real processes on loopback: the sandbox
(`flexfulfill sandbox`, its own SQLite file), receivers (`flexfulfill serve`) behind a
round-robin TCP balancer, workers (`flexfulfill worker`, each with its reconciler), a receipt
sender (`flexfulfill receipts send`) and the local mail server (`flexfulfill mailserver`) behind
a gate that answers 421 for stretches. Checkouts: 70 % plain, 15 % split cart, 10 % subscription,
5 % declined; half with the buyer's email prefilled in `defaults`, half typed at checkout. Every
fault below at once; then the run waits for quiet and checks. Exit status non-zero on any ✗.

{body}
"""


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="checkouts per engine")
    parser.add_argument("--engine", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--receivers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-scale", type=float, default=1e-4, help="the sandbox's")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    options = {
        "receivers": args.receivers,
        "workers": args.workers,
        "seed": args.seed,
        "time_scale": args.time_scale,
    }
    return run_engines(args.n, args.engine.split(","), write=not args.no_write, **options)
