"""An organization of more databases, or a database of more branches, than the 5,000 the bot reads of one list:
doctor said FAIL with the fix for a wrong API URL. Now a warning names the limit, and doctor checks with what it
read."""

from __future__ import annotations

from pathlib import Path

from test_doctor import healthy as healthy  # the fixture
from test_doctor import run
from test_doctor_patterns_that_match_nothing import RULES, warnings

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.settings import Settings

MORE = 5003


def checked(healthy: Settings, tmp_path: Path, third: str) -> tuple[str, list[str]]:
    """doctor's output and its warnings, on the rules whose third pattern is `third`, each pattern matching."""
    (tmp_path / "access.toml").write_text(RULES.replace('"billing-*", "ledger-?"', '"billing-*"')
                                          .replace('"app-bd"', '"app-db"').replace('"reports-*"', third))
    problems, out = run(healthy)
    assert problems == 0 and "FAIL" not in out and "PLANETSCALE_API_URL" not in out, out
    return out, warnings(out)


def test_an_organization_of_more_databases_than_read_is_a_warning_and_its_patterns_checked_on_those_read(
    healthy: Settings, tmp_path: Path, planetscale: PlanetScaleState
) -> None:
    with planetscale.lock:
        for n in range(MORE):
            planetscale.add_database("acme", f"zz-{n:05d}")
    out, told = checked(healthy, tmp_path, '"zz-*"')
    assert len(told) == 1 and "acme" in told[0] and "5,000" in told[0], out
    assert "zz-*" not in out, "a pattern matching databases read is no warning"


def test_a_database_of_more_branches_than_read_is_a_warning_and_its_backups_listed_on_those_read(
    healthy: Settings, tmp_path: Path, planetscale: PlanetScaleState
) -> None:
    with planetscale.lock:
        for n in range(MORE):
            planetscale.add_branch("acme", "app-db", f"feature-{n:05d}", production=False)
    out, told = checked(healthy, tmp_path, '"billing-*"')
    assert len(told) == 1 and "acme/app-db" in told[0] and "5,000" in told[0], out
    assert "acme/app-db: the token can list backups" in out, out
