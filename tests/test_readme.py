"""The README's table of what is tested stays true: its counts are what the suites hold."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def table_rows() -> list[tuple[list[str], int]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Tests", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = re.match(r"\| (`tests/[^|]+) \|[^|]+\| (\d+) \|$", line)
        if match:
            names = re.findall(r"`([^`]+)`", match.group(1))
            base = Path(names[0]).parent
            rows.append(([names[0], *[str(base / n) for n in names[1:]]], int(match.group(2))))
    return rows


def test_the_readme_counts_what_each_suite_holds(request: pytest.FixtureRequest) -> None:
    collected = Counter(str(Path(item.path).relative_to(ROOT)) for item in request.session.items)
    suites = {str(p.relative_to(ROOT)) for p in ROOT.glob("tests/**/test_*.py")}
    if set(collected) != suites:
        pytest.skip("the README counts the whole suite: this check runs when all of it is collected (make test)")
    rows = table_rows()
    named = [name for names, _ in rows for name in names]
    assert sorted(named) == sorted(suites), set(suites) ^ set(named)
    for names, count in rows:
        assert sum(collected[n] for n in names) == count, f"{names}: the README says {count}"
