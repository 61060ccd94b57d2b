"""Access through Bolt: users × rules × targets × channels on every command door, nothing reaching PlanetScale
for those refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from access_rules import STRICT_BEFORE_OPEN
from conftest import CHANNEL, Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.settings import Settings

ALICE, BOB, CAROL, DAVE = "U0ALICE001", "U0BOB00001", "U0CAROL001", "U0DAVE0001"
RANDOM = "C0RANDOM01"
# The contract's sample, with the demo workspace's IDs: alice and bob are @dba-team, carol is @dba-leads;
# in PlanetScale alice and carol are admins, bob a member; dave is named nowhere.
RULES = """
[approvals]
expire_after = "24h"

[[rules]]
organizations = ["acme"]
databases = ["app-db", "billing-*"]
targets = ["production"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 0
channels = ["C0DBAOPS01"]
planetscale_role = "admin"

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 0
"""
DEV, PROD = "bp03devday", "bp01prod12h"


@pytest.fixture
def rules(bot: Bot) -> Bot:
    bot.use_rules(RULES)
    return bot


def text(reply: object) -> str:
    return reply.all_text()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("command", [
    "help", "list acme/app-db", f"show acme/app-db {PROD}", f"show acme/app-db {DEV}",
    f"update acme/app-db {DEV} retention=5d", f"update acme/app-db {PROD} retention=5d --dry-run",
])
@pytest.mark.parametrize("channel", [CHANNEL, RANDOM])
def test_a_user_no_rule_names_is_refused_on_every_door_and_nothing_reaches_planetscale(
    rules: Bot, planetscale: PlanetScaleState, command: str, channel: str
) -> None:
    reply = rules.command(command, user=DAVE, channel=channel)
    assert planetscale.calls() == []
    assert reply.public == []
    assert "not named" in text(reply)
    if command != "help":
        assert [e.action for e in rules.audit.all()] == ["refused"]


def test_an_editors_development_change_applies(rules: Bot, planetscale: PlanetScaleState) -> None:
    reply = rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB, channel=RANDOM)
    assert [r.body for r in planetscale.calls("PATCH")] == [{"retention_value": 5, "retention_unit": "day"}]
    assert len(reply.public) == 1


def test_production_needs_the_planetscale_admin_role(rules: Bot, planetscale: PlanetScaleState) -> None:
    refused = rules.command(f"update acme/app-db {PROD} retention=5d", user=BOB)
    assert "you are a member" in text(refused) and planetscale.calls("PATCH") == []
    member_lookups = [c for c in planetscale.calls("GET") if c.path.endswith("/members")]
    assert member_lookups and member_lookups[0].query["q"] == "bob@acme.example"
    applied = rules.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1 and len(applied.public) == 1


def test_production_is_handled_only_in_its_channel(rules: Bot, planetscale: PlanetScaleState) -> None:
    reply = rules.command(f"update acme/app-db {PROD} retention=5d", user=ALICE, channel=RANDOM)
    assert "<#C0DBAOPS01>" in text(reply) and planetscale.calls("PATCH") == []
    listed = rules.command("list acme/app-db", user=ALICE, channel=RANDOM)
    shown = text(listed)
    assert "Development daily" in shown and "Production daily" not in shown
    assert "may not see" not in shown and "more" not in shown  # hidden ones as if absent, not even counted


def test_moving_a_policy_to_production_is_judged_by_the_production_rule(
    rules: Bot, planetscale: PlanetScaleState
) -> None:
    # bob may change development policies, but moving one to production is a production change
    reply = rules.command(f"update acme/app-db {DEV} target=production", user=BOB)
    assert "you are a member" in text(reply)  # judged under the production rule, which requires admin
    assert planetscale.calls("PATCH") == []


def test_an_approver_may_see_but_not_change(rules: Bot, planetscale: PlanetScaleState) -> None:
    shown = rules.command(f"show acme/app-db {PROD}", user=CAROL)
    assert "Production daily" in text(shown)
    assert "policy_edit" not in text(shown)  # no Edit button offering what would be refused
    assert "policy_edit" in text(rules.command(f"show acme/app-db {PROD}", user=ALICE))
    changed = rules.command(f"update acme/app-db {DEV} retention=5d", user=CAROL)
    assert "lets only its editors" in text(changed) and planetscale.calls("PATCH") == []
    help_text = text(rules.command("help", user=CAROL))
    assert "see, approve" in help_text
    assert "`/backup-policy list" in help_text and "`/backup-policy update" not in help_text


def test_when_slack_hides_the_email_the_role_check_fails_closed(rules: Bot, planetscale: PlanetScaleState) -> None:
    rules.slack.scopes.remove("users:read.email")
    reply = rules.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    assert "users:read.email" in text(reply) and planetscale.calls("PATCH") == []


def test_when_planetscale_hides_the_members_the_role_check_fails_closed(
    rules: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_fault(Fault(status=403, path_contains="/members", times=None))
    reply = rules.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    assert "could not be checked" in text(reply) and "read_organization" in text(reply)
    assert planetscale.calls("PATCH") == []


def test_when_slack_cannot_list_groups_access_is_refused(rules: Bot, planetscale: PlanetScaleState) -> None:
    from bot.emulators.slack import MethodFault

    rules.slack.add_fault(MethodFault("usergroups.list", error="missing_scope", times=None))
    reply = rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    assert "could not be checked" in text(reply) and "missing_scope" in text(reply)
    assert planetscale.calls() == []


def test_while_slack_cannot_list_groups_remembered_memberships_count_for_at_most_an_hour(
    rules: Bot, planetscale: PlanetScaleState, settings: Settings
) -> None:
    from bot.adapters.slack_directory import slack_groups
    from bot.emulators.slack import MethodFault

    now = [0.0]  # the directory as build_dependencies makes it from the settings, on a clock the test moves
    rules.deps.access.groups = slack_groups(rules.app.client, max_age=settings.group_cache_max_age,
                                            clock=lambda: now[0])
    rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    rules.slack.add_fault(MethodFault("usergroups.list", error="ratelimited", times=None))
    now[0] = 1800.0
    rules.command(f"update acme/app-db {DEV} retention=6d", user=BOB)
    assert len(planetscale.calls("PATCH")) == 2  # half an hour old: still trusted
    now[0] = 3601.0
    reply = rules.command(f"update acme/app-db {DEV} retention=7d", user=BOB)
    assert "could not be read since" in text(reply) and "ratelimited" in text(reply)
    assert "older than 1 hour are not trusted" in text(reply)
    assert len(planetscale.calls("PATCH")) == 2


def test_a_bad_access_file_stops_the_start_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "access.toml").write_text(RULES.replace('editors = ["@dba-team"]', 'editors = ["bob"]', 1))
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
           "PLANETSCALE_SERVICE_TOKEN_ID": "i", "PLANETSCALE_SERVICE_TOKEN": "t",
           "SLACK_API_URL": "http://127.0.0.1:9/api/"}
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "access.toml line 9 (rule 1): editors: `bob`" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_missing_access_file_stops_the_start(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
           "PLANETSCALE_SERVICE_TOKEN_ID": "i", "PLANETSCALE_SERVICE_TOKEN": "t"}
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "BACKUP_BOT_ACCESS_FILE: access.toml does not exist" in done.stderr


def test_refusals_are_recorded(rules: Bot) -> None:
    rules.command(f"update acme/app-db {DEV} retention=5d", user=CAROL)
    [event] = rules.audit.all()
    assert event.action == "refused" and event.actor == CAROL and event.policy_id == DEV
    assert json.dumps(event.detail).count("editors") == 1


def test_history_shows_only_the_targets_the_caller_may_see(rules: Bot, planetscale: PlanetScaleState) -> None:
    rules.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    rules.command(f"update acme/app-db {DEV} retention=5d", user=BOB, channel=RANDOM)
    everything = text(rules.command("history acme/app-db", user=ALICE))
    assert "Production daily" in everything and "Development daily" in everything
    elsewhere = text(rules.command("history acme/app-db", user=ALICE, channel=RANDOM))
    assert "Development daily" in elsewhere and "Production daily" not in elsewhere
    assert "not named" in text(rules.command("history acme/app-db", user=DAVE))




@pytest.mark.parametrize("database", ["App-DB", "APP-DB"])
def test_a_database_typed_with_capitals_is_judged_by_its_own_rule(
    bot: Bot, planetscale: PlanetScaleState, database: str
) -> None:
    bot.use_rules(STRICT_BEFORE_OPEN)
    reply = bot.command(f"update acme/{database} {DEV} retention=5d")
    # rule 1 names carol alone (the open rule 2 would let alice): refused by it, on the record; told to alice,
    # who may read its policies in no channel, as a policy nobody holds
    assert "No backup policy" in text(reply) and "rule 1" not in text(reply), text(reply)
    [refused] = [e for e in bot.audit.all() if e.action == "refused"]
    assert "rule 1 (line 2)" in (refused.detail or "") and "may not change" in (refused.detail or "")
    assert planetscale.calls("PATCH") == []
    # and its editor's change is sent under PlanetScale's (lowercase) name
    bot.command(f"update ACME/{database} {DEV} retention=5d", user=CAROL)
    [patch] = planetscale.calls("PATCH")
    assert patch.path == f"/organizations/acme/databases/app-db/backup-policies/{DEV}"


def test_a_database_with_a_trailing_newline_is_refused_not_judged_by_a_broader_rule(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.use_rules(STRICT_BEFORE_OPEN)
    reply = bot.command(f'update "acme/app-db\n" {DEV} retention=5d')
    assert "is not a valid database name" in reply.ack_text
    assert planetscale.calls() == []
