"""A policy name that holds Slack's markup, read from PlanetScale or typed, through Bolt's pipeline on SQLite and
PostgreSQL: wherever the bot shows it (list, show, a single change asked and applied with its thread, DM and
audit channel post, pending, the App Home, history, the watch's notice, a bulk change, refusals, export), it
is shown as written and mentions nobody: no `<@…>`, `<!channel>`, `<!here>`, `<#…>` or link is made of it, and
no `*`, `_`, `~` or backtick of it formats the text around it.

What Slack shows is read here as Slack reads mrkdwn: `&lt;`, `&gt;`, `&amp;` are its escapes, and a date it
cannot format (`<!date^…^{_}|x>`) shows its fallback, `x`, as plain text."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from approval_helpers import ALICE, CAROL, PROD, request_id
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from home_helpers import open_home
from watch_helpers import AUDIT
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from bot.runtime.watch import Watcher
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

NAME = "*b* _i_ ~s~ `c` <@U0EVIL0001> <!channel> <!here> @channel @U0EVIL0001 <https://x.example|y> & #C0EVIL0001"
TYPED = "<!channel> @U0EVIL0001 *z*"
# Slack's tokens that mention someone or link somewhere: none may come of a name.
MADE = re.compile(r"<@U0EVIL|<!channel|<!here|<!everyone|<#C0EVIL|<https://x\.example")
# The name's markup, as mrkdwn would read it if it were sent bare.
BARE = ("*b*", "_i_", "~s~", "`c`", "@channel", "@U0EVIL0001", "#C0EVIL0001")
PLAIN_DATE = re.compile(r"<!date\^\d+\^\{_\}\|([^>]*)>")


def shown(raw: str) -> str:
    """What Slack shows of mrkdwn text, as far as this test needs."""
    text = PLAIN_DATE.sub(lambda m: m.group(1), raw).replace("\u00ad", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def texts(value: Any, top: bool = True) -> list[str]:
    """Every mrkdwn text of a message, view or ack, however deep: a message's own text, and each mrkdwn text
    object (plain_text shows no markup, and a button's value is never shown)."""
    if isinstance(value, str):
        return [value] if top else []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            return [value["text"]]
        return [t for k, v in value.items() for t in texts(v, top and k == "text")]
    if isinstance(value, list):
        return [t for v in value for t in texts(v, top)]
    return []


def said(bot: Bot, *more: Any) -> list[str]:
    """Everything the bot sent to Slack so far, and `more` (acks, Homes)."""
    found = [t for e in bot.slack.events for t in texts(e.text) + texts([e.blocks, e.view], top=False)]
    return found + [t for m in more for t in texts(m)]


def asked_with(bot: Bot, action_id: str) -> SlackEvent:
    """The latest message in a channel with this button."""
    return [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
            and action_id in json.dumps(e.blocks)][-1]


def assert_literal_everywhere(strings: list[str], where: str) -> None:
    mentioned = [text for text in strings if MADE.search(text)]
    assert not mentioned, f"{where}: a mention or link made of the name: {mentioned}"
    for text in strings:
        for bare in BARE:
            assert bare not in text, f"{where}: {bare!r} sent bare: {text}"


def test_a_name_with_slack_markup_is_shown_as_written_and_mentions_nobody_anywhere(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    bot, watcher = watched
    watcher.run_once()  # the baseline
    planetscale.dashboard_change("acme", "app-db", PROD, name=NAME)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", name=NAME + " dev")
    acks: list[Any] = []
    watcher.run_once()  # the renames, posted as drift
    acks.append(bot.command("list acme/app-db").ack)
    acks.append(bot.command(f"show acme/app-db {PROD}").ack)
    acks.append(bot.command(f'show acme/app-db "{TYPED}"').ack)  # not found, the name typed told back
    acks.append(bot.command(f"delete acme/app-db {PROD}").ack)  # a required policy: refused by name
    acks.append(bot.command(f"update acme/app-db {PROD} retention=3d reason=\"why\"", user=ALICE).ack)
    message = asked_with(bot, APPROVE)
    acks.append(bot.command("pending", user=CAROL).ack)
    home = open_home(bot, CAROL)
    applied = bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    acks.append(applied.ack)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 3
    acks.append(bot.command("history acme/app-db").ack)
    acks.append(bot.command(f"history acme/app-db {PROD}").ack)
    acks.append(bot.command("status acme/app-db").ack)
    acks.append(bot.command("export acme/app-db json").ack)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=2)
    watcher.run_once()  # drift on the named policy, in the audit channel
    bulk = bot.command('update acme/app-* * --where target=production retention=4d')
    acks.append(bulk.ack)
    asked = asked_with(bot, BULK_APPROVE)
    button = next(el["value"] for b in asked.blocks for el in b.get("elements", [])
                  if el.get("action_id") == BULK_APPROVE)
    acks.append(bot.click(BULK_APPROVE, button, user=CAROL, message=asked).ack)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 4
    home_after = open_home(bot, CAROL)

    everything = said(bot, acks, home, home_after)
    exported = [t for t in everything if "```" in t]  # code: the name as Terraform or JSON holds it
    assert_literal_everywhere([t for t in everything if t not in exported], "a message")
    for text in exported:
        assert not MADE.search(text), text
    seen = "\n".join(shown(t) for t in everything)
    # Shown whole where it is named: the request, the applied change, the watch's notice, list and show.
    assert seen.count(NAME) >= 6, seen
    assert TYPED in seen
    assert any(e.channel == AUDIT for e in bot.slack.events)


@pytest.mark.parametrize("name", ["> quoted", "_x", "a*b*c", "`"])
def test_a_name_that_starts_or_is_markup_is_listed_as_written(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, name: str
) -> None:
    bot, _ = watched
    planetscale.dashboard_change("acme", "app-db", PROD, name=name)
    listed = bot.command("list acme/app-db")
    line = next(t for t in texts(listed.events[-1].blocks) if PROD in t)
    assert shown(line).startswith(f"• *{name}*") or f"*{name}*" in shown(line), line
    assert not line.startswith("&gt;") and "\n&gt;" not in line
    for mark in "*_~`":
        if mark in name:
            assert f"|{mark}>" in line, line
