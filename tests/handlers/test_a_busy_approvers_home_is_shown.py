"""The Home of someone with many requests waiting for them and many of their own: a Home tab holds 100 blocks, not
a message's 50, and each part shows as many as it promises; and each request shows what it changes and its
approvals however long its policy's name."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from approval_helpers import ALICE, CAROL, PROD, approvals_bot, ask, request_id
from conftest import Bot
from home_helpers import home_buttons, open_home

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE, CANCEL

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_lead_with_many_requests_waiting_and_many_of_their_own_sees_their_home(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    open_home(approvals_bot, ALICE)
    # Long names: each request takes two sections, its buttons and a divider.
    planetscale.policies[("acme", "app-db")][PROD]["name"] = "*" * 255
    first = approvals_bot.deps.store.get_request(request_id(ask(
        approvals_bot, f'update acme/app-db {PROD} name="{"_" * 255}" retention=1d')))
    assert first is not None
    for n in range(30):  # Alice's wait for Carol; Carol's own wait for the other leads
        approvals_bot.deps.store.add_request(replace(
            first, id=str(uuid.uuid4()), requester=ALICE if n % 2 else CAROL, message_channel=None,
            message_ts=None, created_at=first.created_at - 1000 + n, updated_at=first.created_at - 1000 + n))
    home = open_home(approvals_bot, CAROL)
    shown = json.dumps(home["blocks"], ensure_ascii=False)
    assert "Something went wrong" not in shown, shown[:500]
    buttons = [action for action, _ in home_buttons(home)]
    assert buttons.count(APPROVE) == 10 and buttons.count(CANCEL) == 8, buttons
    assert "…and 6 more not shown." in shown and "…and 7 more not shown." in shown
    assert "What you may change" in shown and len(home["blocks"]) <= 100


def test_a_request_with_a_long_name_on_the_home_still_shows_what_it_changes_and_its_approvals(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    # A name of markup characters, each shown as written in 25 characters: the headline alone fills half a section.
    planetscale.policies[("acme", "app-db")][PROD]["name"] = "*" * 255
    approvals_bot.command(f'update acme/app-db {PROD} name="{"_" * 255}" retention=1d', user=ALICE)
    home = open_home(approvals_bot, CAROL)
    entry = json.dumps(home["blocks"][:home["blocks"].index(next(
        b for b in home["blocks"] if b["type"] == "actions"))], ensure_ascii=False)
    assert "retention: ~2 days~ → *1 day*" in entry, entry[-800:]
    assert "*Approvals:* 0 of 1" in entry, entry[-800:]


def test_someone_named_in_many_rules_is_told_how_many_their_home_does_not_list(approvals_bot: Bot) -> None:
    approvals_bot.use_rules("".join(f"""
[[rules]]
organizations = ["acme"]
databases = ["db-{n:02d}-{"x" * 40}"]
editors = ["{ALICE}"]
channels = ["C0DBAOPS01"]
""" for n in range(15)))
    shown = json.dumps(open_home(approvals_bot, ALICE)["blocks"], ensure_ascii=False)
    listed = [f"db-{n:02d}-" for n in range(15) if f"db-{n:02d}-" in shown]
    assert len(listed) == 10 and "…and 5 more rules" in shown, shown[-1500:]
