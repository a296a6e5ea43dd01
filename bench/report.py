"""Write one benchmark's section of docs/benchmarks.md, leaving the others in place."""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Run them all with `make bench` (each section names its own command too). The machine is shared
and noisy, so every comparison is a ratio measured in the same run, not an absolute figure.
"""


def machine() -> str:
    """One line describing the machine a figure was measured on."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{cpu}, {cores} cores, Python {platform.python_version()}, {platform.system()}"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section delimited by ``<!-- bench:name -->`` markers."""
    text = REPORT.read_text() if REPORT.exists() else HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(text)
