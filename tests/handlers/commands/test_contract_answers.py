"""`/backup-policy` held against its outside contract through Bolt's pipeline: what `help` lists, and answers to
bad input that name what is wrong and a fix that works, to the caller alone, with nothing read from PlanetScale."""

from __future__ import annotations

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

CAROL = "U0CAROL001"  # an approver under the test rules: may see, not change


def answer(bot: Bot, text: str) -> str:
    """A command refused in its ack: the answer, to the caller alone."""
    reply = bot.command(text)
    assert reply.public == [] and reply.ack.get("response_type") != "in_channel"
    return reply.all_text()


def test_help_lists_status_to_an_approver_who_may_run_it(bot: Bot, planetscale: PlanetScaleState) -> None:
    shown = bot.command("help", user=CAROL).all_text()
    assert "status &lt;org&gt;/&lt;database&gt;" in shown or "status <org>/<database>" in shown
    status = bot.command("status acme/app-db", user=CAROL).all_text()
    assert "Production daily" in status and "Last success" in status


def test_help_lists_every_subcommand_of_the_contract_to_an_editor(bot: Bot) -> None:
    shown = bot.command("help").all_text()
    for subcommand in ("help", "list", "show", "update", "edit", "history", "pending", "status", "create",
                       "delete", "export", "--where", "--dry-run", "reason="):
        assert f"{subcommand}" in shown, subcommand
    assert "day=" in shown and "week=" in shown


@pytest.mark.parametrize("text", ['create acme/app-db reason="cheaper"', "create acme/app-db --dry-run reason=x"])
def test_a_creation_with_no_setting_is_told_as_a_creation(bot: Bot, planetscale: PlanetScaleState,
                                                          text: str) -> None:
    said = answer(bot, text)
    assert "/backup-policy create acme/app-db name=" in said
    assert "update" not in said and '""' not in said
    assert planetscale.calls() == []


def test_a_stray_word_in_a_creation_is_not_taken_for_a_policy_name(bot: Bot,
                                                                  planetscale: PlanetScaleState) -> None:
    said = answer(bot, 'create acme/app-db nightly name="Nightly" target=development')
    assert "`nightly`" in said and 'name="nightly"' in said.lower() and '" nightly"' not in said
    assert planetscale.calls() == []


def test_a_bulk_update_without_a_policy_points_to_a_command_that_works(bot: Bot,
                                                                      planetscale: PlanetScaleState) -> None:
    said = answer(bot, "update acme/* retention=3d")
    assert "list acme/*" not in said  # `list` takes one database, never a glob
    assert 'update acme/* "Production daily" retention=30d' in said and "update acme/* * retention=30d" in said
    assert planetscale.calls() == []


@pytest.mark.parametrize("text", ["delete acme/app-db --dry-run", "update acme/app-db --dry-run",
                                  "show acme/app-db --dry-run", "delete acme/app-db reason=gone"])
def test_an_option_is_never_taken_for_the_policy(bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    said = answer(bot, text)
    assert "needs a policy after the database" in said
    assert planetscale.calls() == []


@pytest.mark.parametrize(("text", "example"), [
    ("list acme/app-db Production", "/backup-policy list acme/app-db"),
    ("status acme/app-db everything", "/backup-policy status acme/app-db"),
    ("pending now", "/backup-policy pending"),
])
def test_words_after_a_command_that_takes_no_policy_are_not_told_to_be_quoted(
    bot: Bot, planetscale: PlanetScaleState, text: str, example: str
) -> None:
    said = answer(bot, text)
    assert "Quote a policy name" not in said and example in said
    assert planetscale.calls() == []


def test_history_tells_a_creation_and_a_deletion_as_such(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.command('create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00')
    bot.command('delete acme/app-db "Nightly"')
    bot.command('delete acme/app-db "Development daily" --dry-run')
    shown = bot.command("history acme/app-db").all_text()
    assert "created Nightly" in shown and "asked to create Nightly" in shown
    assert "deleted Nightly" in shown and "asked to delete Nightly" in shown
    assert "previewed the deletion of Development daily" in shown
    assert "changed Nightly" not in shown and "asked to change Nightly" not in shown


def test_help_gives_an_approver_examples_of_what_they_may_do(bot: Bot) -> None:
    shown = bot.command("help", user=CAROL).all_text()
    assert "Examples" in shown
    assert "/backup-policy list acme/app-db" in shown and "/backup-policy status acme/app-db" in shown
    assert "/backup-policy update" not in shown and "/backup-policy create" not in shown


def test_help_writes_create_and_the_day_and_week_keys_as_the_contract_does(bot: Bot) -> None:
    shown = bot.command("help").all_text()
    assert "frequency=… at=… [day=…] [week=…] [reason=" in shown
    assert "full names" in shown and "first…fourth" in shown


@pytest.mark.parametrize(("text", "told"), [
    ("update acme/app-db bp03devday retention=0d", "`retention=0d`: must be at least 1, e.g. `retention=30d`"),
    ("update acme/app-db bp03devday frequency=99999999999h", "`frequency=99999999999h` is too large"),
    ("update acme/* * --wher target=production retention=3d", "Did you mean `--where`?"),
])
def test_a_bad_amount_or_option_is_named_as_typed_with_its_fix(bot: Bot, planetscale: PlanetScaleState, text: str,
                                                               told: str) -> None:
    assert told in answer(bot, text)
    assert planetscale.calls() == []
