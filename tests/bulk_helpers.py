"""Bulk changes through Bolt: reading their messages and asking the ones the suites share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from conftest import ALICE, Bot

from bot.domain.change_requests import ChangeRequest
from bot.domain.outcomes import Outcome
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.bulk_blocks import BULK_APPROVE


def ask_bulk_of_two(bot: Bot, planetscale: PlanetScaleState, prefix: str = "one") -> None:
    """Databases `<prefix>-0` and `<prefix>-1` with a production policy each, and alice's bulk change of both, which
    waits for approval."""
    for n in range(2):
        planetscale.add_database("acme", f"{prefix}-{n}")
        planetscale.add_policy("acme", f"{prefix}-{n}", f"{prefix}-{n}-prod", name="Production daily",
                               target="production")
    bot.command(f"update acme/{prefix}-* * retention=14d", user=ALICE)


def channel_messages(bot: Bot) -> list[SlackEvent]:
    return [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
            and e.channel in bot.slack.channels]


def button(message: SlackEvent, action_id: str) -> str:
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button")


def latest(bot: Bot, message: SlackEvent) -> SlackEvent:
    return [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")][-1]


def side_change(bot: Bot, planetscale: PlanetScaleState, rules: str) -> tuple[str, SlackEvent]:
    """Under `rules`, alice's bulk change to keep 14 days over side-a and side-b's production policies: the bulk
    change's id and its message."""
    bot.use_rules(rules)
    for name in ("side-a", "side-b"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.command('update acme/side-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(bot)
    return button(message, BULK_APPROVE), message


@contextlib.contextmanager
def grown_before_applying(bot: Bot, planetscale: PlanetScaleState, policy_id: str, size: int) -> Iterator[None]:
    """Within it, acme/app-db's `policy_id` gets a new backup of `size` bytes as each approved request is applied:
    after the approval read its backups, before the read under the lease."""
    changes = bot.deps.changes
    apply_approved = changes.apply_approved

    def grown_first(member: ChangeRequest, by: str) -> Outcome:
        planetscale.add_backup("acme", "app-db", policy_id, size=size)
        return apply_approved(member, by)

    changes.apply_approved = grown_first  # type: ignore[method-assign]
    try:
        yield
    finally:
        changes.apply_approved = apply_approved  # type: ignore[method-assign]


def two_asked_one_damaged(bot: Bot, planetscale: PlanetScaleState, column: str,
                          value: object) -> tuple[str, str, SlackEvent]:
    """Two pending bulk changes, the first one's `column` (a time) damaged to `value`, and the clock of the sweep's
    steps at 60% of the second's life, past its first reminder moment and its judging turn: (first's ID, second's
    ID, second's message)."""
    ask_bulk_of_two(bot, planetscale, "one")
    ask_bulk_of_two(bot, planetscale, "two")
    first_message, second_message = channel_messages(bot)
    first, second = button(first_message, BULK_APPROVE), button(second_message, BULK_APPROVE)
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text(f"update change_batches set {column} = :value where id = :id"),
                            {"value": value, "id": first}).rowcount == 1
    batch = bot.deps.store.get_batch(second)
    assert batch is not None
    later = batch.created_at + (batch.expires_at - batch.created_at) * 0.6
    bot.deps.changes.clock = lambda: later  # the store's stays Slack's, whose time stamps the thread reads
    return first, second, second_message


def asked_over_databases(bot: Bot, planetscale: PlanetScaleState, count: int) -> tuple[list[str], SlackEvent]:
    """`count` databases mix-NN, each with a production policy, and a bulk change of their retention to 14 days
    asked over them: (their names, its message)."""
    names = [f"mix-{n:02d}" for n in range(count)]
    for name in names:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.command('update acme/mix-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(bot)
    return names, message


def retentions(planetscale: PlanetScaleState, names: list[str]) -> list[int]:
    """The retention each mix-NN database's production policy holds."""
    return [planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] for name in names]
