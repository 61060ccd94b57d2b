"""A policy's `schedule_time` is PlanetScale's text (the spec: any string, "in HH:MM format"): one that holds
Slack's markup (`<!channel>`, a link dressed as another) is shown as written, mentioning nobody and linking
nowhere, in `list`, `show`, a dry run and the request posted in the channel. Through Bolt's pipeline, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, CAROL, PROD, approvals_bot, request_id
from bulk_helpers import channel_messages
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

ODD = "<!channel> <https://evil.example|log in>"


def test_a_schedule_time_holding_slack_markup_mentions_nobody_and_links_nowhere(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.policies[("acme", "app-db")][PROD]["schedule_time"] = ODD
    for command in ("list acme/app-db", f"show acme/app-db {PROD}", f"update acme/app-db {PROD} retention=9d --dry-run",
                    f"update acme/app-db {PROD} retention=9d"):
        approvals_bot.command(command, user=ALICE)
    assert approvals_bot.executor.wait_idle(60)
    said = " ".join(e.text + json.dumps(e.blocks, ensure_ascii=False) for e in approvals_bot.slack.events)
    assert len(channel_messages(approvals_bot)) == 1, said  # the request, waiting for its approval
    assert said.count("&lt;!channel&gt;") >= 4, said  # shown, as written, in each answer
    assert "<!channel>" not in said and "<https://evil" not in said, said


def test_a_schedule_time_changed_since_the_request_is_told_as_written(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Was: the approver told “schedule_time is now '<!channel> <https://evil.example|log in>'” as Slack markup
    (a link dressed as “log in”), the judge's words holding PlanetScale's text unmarked."""
    approvals_bot.command(f"update acme/app-db {PROD} at=03:00", user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.policies[("acme", "app-db")][PROD]["schedule_time"] = ODD
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert approvals_bot.executor.wait_idle(60)
    said = " ".join(e.text + json.dumps(e.blocks, ensure_ascii=False) for e in approvals_bot.slack.events)
    assert "schedule_time is now" in said, said
    assert "<!channel>" not in said and "<https://evil" not in said, said
    assert not planetscale.calls("PATCH")


def test_a_policy_id_no_path_holds_is_told_as_written(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Was: “its ID `bp<!channel> <https://evil.example|log in>` is not one PlanetScale's paths can hold” as Slack
    markup, to the person asking an update and a deletion: the judge's words held PlanetScale's ID unmarked."""
    planetscale.add_database("acme", "odd")
    planetscale.add_policy("acme", "odd", f"bp{ODD}", name="Odd", target="development")
    said = " ".join(approvals_bot.command(c, user=ALICE).all_text()
                    for c in ('update acme/odd "Odd" retention=9d', 'delete acme/odd "Odd"'))
    assert said.count("is not one PlanetScale's paths can hold") == 2, said
    assert "<!channel>" not in said and "<https://evil" not in said, said


def test_policy_ids_offered_to_choose_between_namesakes_are_told_as_written(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Was: “2 policies in acme/odd are named “Nightly”: use an ID (`bp<!channel> <https://evil.example|log in>`,
    `bpnightly2`)” as Slack markup: find_policy wrote PlanetScale's IDs in backticks, unmarked."""
    planetscale.add_database("acme", "odd")
    planetscale.add_policy("acme", "odd", f"bp{ODD}", name="Nightly", target="development")
    planetscale.add_policy("acme", "odd", "bpnightly2", name="Nightly", target="development")
    said = approvals_bot.command('update acme/odd "Nightly" retention=9d', user=ALICE).all_text()
    assert "use an ID" in said and "`bpnightly2`" in said, said
    assert "<!channel>" not in said and "<https://evil" not in said, said
