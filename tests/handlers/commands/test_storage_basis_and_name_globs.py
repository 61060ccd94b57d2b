"""What `max_storage` judges a creation or a policy that never backed up on, a bracket in a name glob taken as
itself, and a bulk preview's estimated storage. Through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot
from test_bulk import channel_messages

from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name

STORAGE_BOUND = storage_bound("production", "7GB")


def test_max_storage_judges_a_creation_on_its_targets_latest_success_older_than_eight_days(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A database backed up monthly has its latest successful backup (2 GB) twenty days old. A new daily policy
    keeping 30 of them is about 60 GB, past the 7 GB bound; judged as if the target had no backup at all, the
    bound let it through and told the approvers there was nothing to estimate from."""
    approvals_bot.use_rules(RULES.format(approvals=1) + STORAGE_BOUND)
    planetscale.add_database("acme", "ledger-db")
    planetscale.add_policy("acme", "ledger-db", "ledger-mo", name="Monthly", target="production",
                           frequency_value=1, frequency_unit="month", retention_value=1, retention_unit="year")
    planetscale.add_backup("acme", "ledger-db", "ledger-mo", hours_ago=20 * 24, size=2_000_000_000)
    reply = approvals_bot.command('create acme/ledger-db name="Daily" target=production retention=30d '
                                  'frequency=1d at=03:00 reason="audit"', user=ALICE)
    said = reply.all_text()
    assert "at most 7.0 GB allowed" in said, said
    assert channel_messages(approvals_bot) == [] and planetscale.calls("POST") == []


def test_a_bracket_in_a_policy_name_glob_is_the_character_it_is_not_a_set_of_characters(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Only `*` and `?` make a glob (a name with `[` alone is an exact name); inside a glob, `[prod]` was read as
    any one of p, r, o, d, so narrowing an exact name to a target also changed a policy named "Daily p"."""
    planetscale.add_database("acme", "odd-db")
    planetscale.add_policy("acme", "odd-db", "odd-bracket", name="Daily [prod]", target="development")
    planetscale.add_policy("acme", "odd-db", "odd-p", name="Daily p", target="development")
    approvals_bot.command('update acme/odd-db "Daily [prod]" --where target=development retention=9d', user=ALICE)
    sent = {c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")}
    assert sent == {"odd-bracket"}, sent
    assert planetscale.policies[("acme", "odd-db")]["odd-p"]["retention_value"] != 9


def test_max_storage_judges_a_policy_that_never_backed_up_on_its_targets_backups_as_its_creation_was(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A creation is judged on the target's latest backup (2 GB here): 3 kept is 6 GB, inside 7 GB. Changed
    before its first run, the same policy was judged on its own backups, none, so retention=30d (60 GB) went
    through the bound that refuses the same policy created at once: create small, then grow."""
    approvals_bot.use_rules(RULES.format(approvals=0) + STORAGE_BOUND)
    planetscale.add_database("acme", "grow-db")
    planetscale.add_policy("acme", "grow-db", "grow-old", name="Old daily", target="production",
                           frequency_value=1, frequency_unit="day", retention_value=3, retention_unit="day")
    planetscale.add_backup("acme", "grow-db", "grow-old", hours_ago=5, size=2_000_000_000)
    approvals_bot.command('create acme/grow-db name="New daily" target=production retention=3d frequency=1d '
                          'at=03:00 reason="audit"', user=ALICE)
    [made] = [p for p in planetscale.policies[("acme", "grow-db")].values() if p["name"] == "New daily"]
    reply = approvals_bot.command(f"update acme/grow-db {made['id']} retention=30d", user=ALICE)
    said = reply.all_text()
    assert "at most 7.0 GB allowed" in said, said
    assert planetscale.calls("PATCH") == [] and made["retention_value"] == 3


def test_a_bulk_preview_says_each_policys_estimated_storage_before_and_after_without_a_storage_bound(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Every preview says the estimated storage before → after (CONTRACT "What a change costs"); a bulk change's
    said it only where a `max_storage` guardrail covered the policy, so a longer retention over many databases
    was asked without the storage it would take."""
    planetscale.add_database("acme", "cost-db")
    planetscale.add_policy("acme", "cost-db", "cost-dev", name="Dev daily", target="development",
                           frequency_value=1, frequency_unit="day", retention_value=2, retention_unit="day")
    planetscale.add_backup("acme", "cost-db", "cost-dev", hours_ago=5, size=2_000_000_000)
    reply = approvals_bot.command("update acme/cost-db * --where target=development retention=10d --dry-run",
                                  user=ALICE)
    said = reply.all_text()
    assert "kept 2 → 10" in said and "4.0 GB → 20.0 GB" in said, said
