"""Command line entry point (filled in by the ecosystem work)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("flopcount: the command line is not built yet", file=sys.stderr)
    return 2
