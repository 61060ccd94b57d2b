"""A click on the App Home (Approve, Reject, Cancel) while the bot's database does not answer: the step cannot be
taken, and the Home that would carry the answer cannot be built either (it is read from the database). The clicker
is told on their Home all the same, as someone opening it then is, never left before a Home that says nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, RULES, approvals_bot, ask, request_id, request_message
from bulk_helpers import button
from conftest import Bot
from home_helpers import click_on_home, open_home

from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE, CANCEL
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


@contextmanager
def database_down(store: Store) -> Iterator[None]:
    """Every call on the store fails as a database that stopped answering fails it."""

    def failing(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise sa.exc.OperationalError(name, {}, Exception("server closed the connection unexpectedly"))
        return call

    names = [n for n in dir(Store) if not n.startswith("_") and callable(getattr(Store, n))]
    for name in names:
        setattr(store, name, failing(name))
    try:
        yield
    finally:
        for name in names:
            delattr(store, name)


def test_an_approval_clicked_on_the_home_while_the_database_is_down_is_answered_there(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    open_home(approvals_bot, CAROL)
    with database_down(approvals_bot.deps.store):
        click_on_home(approvals_bot, CAROL, APPROVE, request_id(message))
    home = json.dumps(approvals_bot.slack.homes[CAROL]["blocks"], ensure_ascii=False)
    assert ":warning:" in home and "went wrong" in home, home[:600]
    assert approvals_bot.deps.store.approvers_of(request_id(message)) == []  # nothing was counted


def test_a_cancel_clicked_on_the_home_while_the_database_is_down_is_answered_there(approvals_bot: Bot) -> None:
    message = ask(approvals_bot)
    open_home(approvals_bot, ALICE)
    with database_down(approvals_bot.deps.store):
        click_on_home(approvals_bot, ALICE, CANCEL, request_id(message))
    home = json.dumps(approvals_bot.slack.homes[ALICE]["blocks"], ensure_ascii=False)
    assert ":warning:" in home and "went wrong" in home, home[:600]


def test_a_bulk_approval_clicked_on_the_home_while_the_database_is_down_is_answered_there(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    for name in ("pay-01", "pay-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    approvals_bot.use_rules(RULES.format(approvals=2))
    approvals_bot.command('update acme/pay-* "Production daily" retention=14d', user=ALICE)
    batch_id = button(request_message(approvals_bot), BULK_APPROVE)
    open_home(approvals_bot, CAROL)
    with database_down(approvals_bot.deps.store):
        click_on_home(approvals_bot, CAROL, BULK_APPROVE, batch_id)
    home = json.dumps(approvals_bot.slack.homes[CAROL]["blocks"], ensure_ascii=False)
    assert ":warning:" in home and "went wrong" in home, home[:600]
    assert planetscale.calls("PATCH") == []
