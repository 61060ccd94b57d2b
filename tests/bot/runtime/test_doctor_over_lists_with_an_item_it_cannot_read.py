"""A database whose policy or branch list holds one item the bot cannot read (a number as text, a name that is no
text): doctor said FAIL with the fix for a wrong API URL, though the token reads the database. Now a warning
names the item and why, and doctor checks with the rest, as the watch does."""

from __future__ import annotations

import json
from pathlib import Path

from test_doctor import healthy as healthy  # the fixture
from test_doctor import run
from test_doctor_patterns_that_match_nothing import RULES, warnings

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.settings import Settings


def rules_of_app_db(tmp_path: Path) -> None:
    (tmp_path / "access.toml").write_text(RULES.replace('"billing-*", "ledger-?"', '"billing-*"')
                                          .replace('"app-bd"', '"app-db"').replace('"reports-*"', '"billing-*"'))


def listed(data: list[dict[str, object]]) -> str:
    return json.dumps({"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": data})


def test_a_policy_it_cannot_read_is_a_warning_and_the_others_checked(
    healthy: Settings, tmp_path: Path, planetscale: PlanetScaleState
) -> None:
    rules_of_app_db(tmp_path)
    with planetscale.lock:
        policies = list(planetscale.policies[("acme", "app-db")].values())
    odd = {**policies[0], "id": "bpodd", "retention_value": "7"}
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/app-db/backup-policies",
                                body=listed([*policies, odd])))
    problems, out = run(healthy)
    assert problems == 0 and "FAIL" not in out and "PLANETSCALE_API_URL" not in out, out
    told = warnings(out)
    assert len(told) == 1 and "acme/app-db" in told[0] and "bpodd" in told[0] and "retention_value" in told[0], out
    assert f"acme/app-db: the token can read its {len(policies)} backup policies" in out, out
    assert "acme/app-db: the token can list backups" in out, out


def test_a_branch_it_cannot_read_is_a_warning_and_backups_listed_on_the_others(
    healthy: Settings, tmp_path: Path, planetscale: PlanetScaleState
) -> None:
    rules_of_app_db(tmp_path)
    with planetscale.lock:
        branches = [dict(b) for b in planetscale.branches[("acme", "app-db")]]
    odd = {**branches[0], "id": "brodd", "name": 7}
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/app-db/branches", body=listed([*branches, odd])))
    problems, out = run(healthy)
    assert problems == 0 and "FAIL" not in out and "PLANETSCALE_API_URL" not in out, out
    told = warnings(out)
    assert len(told) == 1 and "acme/app-db" in told[0] and "brodd" in told[0], out
    assert "acme/app-db: the token can list backups" in out, out
