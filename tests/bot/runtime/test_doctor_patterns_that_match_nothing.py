"""A rule's or guardrail's pattern that matches no database PlanetScale has (a typo, `app-bd`) covers nothing: a
guardrail so written bounds nothing, and doctor said nothing of it. Each is now a warning naming the file, the line
and the pattern, with the closest database's name where one is close; a warning, not a problem, since a pattern
may be meant for a database not made yet."""

from __future__ import annotations

from pathlib import Path

from test_doctor import healthy as healthy  # the fixture
from test_doctor import run

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.settings import Settings

RULES = """[[rules]]
organizations = ["acme"]
databases = ["app-db", "billing-*", "ledger-?"]
editors = ["@dba-team"]

[[guardrails]]
organizations = ["acme"]
databases = ["app-bd"]
min_retention = "7d"

[[guardrails]]
organizations = ["acme"]
databases = [
  "app-db",
  "reports-*",
]
max_interval = "1d"
"""


def warnings(out: str) -> list[str]:
    return [line.strip().removeprefix("WARN").strip() for line in out.splitlines() if line.strip().startswith("WARN")]


def test_each_pattern_that_matches_no_database_is_a_warning_naming_its_line(
    healthy: Settings, tmp_path: Path
) -> None:
    (tmp_path / "access.toml").write_text(RULES)
    problems, out = run(healthy)
    assert problems == 0, out
    access = tmp_path / "access.toml"
    assert warnings(out) == [
        f"{access} line 3 (rule 1): `ledger-?` matches no database of acme PlanetScale lists now, so the rule "
        "covers nothing through it: correct a typo, or leave it for a database to come",
        f"{access} line 8 (guardrail 1): `app-bd` matches no database of acme PlanetScale lists now (the closest: "
        "app-db), so the guardrail covers nothing through it: correct a typo, or leave it for a database to come",
        f"{access} line 15 (guardrail 2): `reports-*` matches no database of acme PlanetScale lists now, so the "
        "guardrail covers nothing through it: correct a typo, or leave it for a database to come",
    ], out
    assert "3 warnings" in out, out


def test_a_pattern_that_matches_a_database_made_since_is_no_longer_told(
    healthy: Settings, tmp_path: Path, planetscale: PlanetScaleState
) -> None:
    (tmp_path / "access.toml").write_text(RULES)
    planetscale.add_database("acme", "reports-eu")
    planetscale.add_database("acme", "app-bd")
    planetscale.add_database("acme", "ledger-1")
    problems, out = run(healthy)
    assert (problems, warnings(out)) == (0, []), out


def test_an_organization_planetscale_does_not_know_is_a_warning_naming_its_line(
    healthy: Settings, tmp_path: Path
) -> None:
    (tmp_path / "access.toml").write_text(RULES.replace('organizations = ["acme"]\ndatabases = ["app-bd"]',
                                                        'organizations = ["acmee"]\ndatabases = ["*"]'))
    problems, out = run(healthy)
    assert problems == 0, out
    told = [w for w in warnings(out) if "acmee" in w]
    assert len(told) == 1, out
    assert told[0].startswith(f"{tmp_path / 'access.toml'} line 7 (guardrail 1): organization `acmee`: "), told[0]
    assert "(404)" in told[0] and "so the guardrail covers nothing there" in told[0], told[0]
