"""`python -m bench.chaos --n 2000 --engine sqlite,postgres` (what `make chaos` runs)."""

import sys

from bench.chaos import cli

sys.exit(cli())
