"""Fails on a module over 500 lines: `python tools/module_size.py bot handlers`.

A room of one job rarely needs more; a module past the bound is split by job (the change path's doors in
bot/domain/changes.py, its deciding in bot/domain/deciding.py), not trimmed to fit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

LIMIT = 500


def too_long(roots: Iterable[str], limit: int = LIMIT) -> list[tuple[str, int]]:
    """Each module under `roots` with more than `limit` lines, with its count."""
    found = []
    for path in sorted(p for root in roots for p in Path(root).rglob("*.py")):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > limit:
            found.append((str(path), count))
    return found


def main(argv: list[str]) -> int:
    found = too_long(argv or ["bot", "handlers"])
    for path, count in found:
        print(f"{path}: {count} lines, over {LIMIT}: split it into modules of one job each", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
