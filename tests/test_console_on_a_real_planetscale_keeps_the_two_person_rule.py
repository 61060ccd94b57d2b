"""Issue 19 (review rev19t): `backup-bot console` without `--demo` talks to the PlanetScale the settings name, under
the access file the settings name, while its Slack is its own made-up workspace (alice, bob, carol, dave, and the
groups @dba-team and @dba-leads). Its people are typed, not signed in: one operator is every one of them. So the
judge's groups, looked up in that workspace, must never let the console's people stand in for the real rules' people
and send a change to a real PlanetScale; here the emulator stands in for the real one, reached with a token."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.console import Console
from bot.runtime.settings import Settings

# A real workspace's rules, as access.example.toml writes them: the DBA team (a user group) asks, a lead approves.
RULES = """\
[[rules]]
organizations = ["acme"]
databases = ["app-db"]
targets = ["production"]
editors = ["U0REAL0ANN", "@dba-team"]
approvers = ["@dba-leads"]
approvals = 1

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
"""
PROD = "bp01prod12h"
REAL_ID, REAL_TOKEN = "realtokenid0", "pscale_tkn_a_real_one"  # only the emulators take the demo token


def real(settings: Settings, planetscale: PlanetScaleState, rules: Path) -> Settings:
    planetscale.grant(REAL_ID, REAL_TOKEN, "acme")
    return replace(settings, access_file=str(rules), planetscale_token_id=REAL_ID, planetscale_token=REAL_TOKEN)


def test_the_consoles_made_up_people_never_approve_a_change_to_a_real_planetscale(
        settings: Settings, planetscale: PlanetScaleState, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKUP_BOT_DATABASE_URL", raising=False)
    rules = tmp_path / "access.toml"
    rules.write_text(RULES)
    out = io.StringIO()
    console = Console(real(settings, planetscale, rules), out=out)
    try:
        assert not console.on_emulator  # a token and an API URL: PlanetScale as the settings name it
        console.run([f"/backup-policy update acme/app-db {PROD} retention=9d reason=\"cost review\"",
                     "as carol", "click 1"], interactive=False)
        console.executor.shutdown(wait=True)
    finally:
        console.close()
    text = out.getvalue()
    assert not planetscale.calls("PATCH"), (
        "one operator, typing `as carol`, approved alice's production change and it reached PlanetScale:\n" + text)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] != 9, text
    assert "the console never changes a PlanetScale it does not run itself" in text, text
    assert REAL_ID not in text, "the service token's ID is half of its credentials: never shown"


def test_the_console_still_reads_a_real_planetscale(settings: Settings, planetscale: PlanetScaleState,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKUP_BOT_DATABASE_URL", raising=False)
    rules = tmp_path / "access.toml"
    rules.write_text(RULES)
    out = io.StringIO()
    console = Console(real(settings, planetscale, rules), out=out)
    try:
        console.run(["/backup-policy list acme/app-db"], interactive=False)
        console.executor.shutdown(wait=True)
    finally:
        console.close()
    assert "Production daily" in out.getvalue(), out.getvalue()


def test_an_emulator_reached_with_its_demo_token_is_still_changed(settings: Settings, planetscale: PlanetScaleState,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`backup-bot emulator` and a console pointed at it (README: to rehearse first): both made up, so changes go."""
    monkeypatch.delenv("BACKUP_BOT_DATABASE_URL", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no access.toml here: the demo rules
    out = io.StringIO()
    console = Console(settings, out=out)
    try:
        console.run(["/backup-policy update acme/app-db bp03devday retention=9d"], interactive=False)
        console.executor.shutdown(wait=True)
    finally:
        console.close()
    assert len(planetscale.calls("PATCH")) == 1, out.getvalue()
