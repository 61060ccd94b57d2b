"""Creations, deletions, reverts and bulk changes judged together (issue 24; rev24x, no defect found): a creation's
Revert under a floor, a deletion's Revert whose name is taken (by a policy the reverter may or may not read), a
waiting change of a policy deleted and made again, two bulk moves and a deletion approved at once on two instances
under a floor, and two changes each within `max_storage` alone but not together, asked alone or in bulk. Through
Bolt on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

from access_rules import production_in_db_ops, storage_bound
from approval_helpers import ALICE, BOB, CAROL, RULES, approvals_bot, request_id, second_instance
from conftest import Bot, SlackEvent
from test_bulk import button, channel_messages
from test_create_delete import PROD_NIGHTLY, WEEKLY, policies_named, revert_value

from bot.domain.change_requests import ChangeKind, ChangeRequest, RequestState
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE, REVERT
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

FLOOR = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_policies = 2
"""


def last_message(bot: Bot) -> SlackEvent:
    return [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
            and e.channel in bot.slack.channels][-1]


def pending_of(bot: Bot, kind: ChangeKind) -> list[ChangeRequest]:
    return [r for r in bot.deps.store.requests(list(RequestState))
            if r.kind is kind and r.state is RequestState.PENDING]


def test_a_revert_of_a_creation_is_judged_by_the_floor(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1) + FLOOR)
    approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    created = last_message(approvals_bot)
    approvals_bot.click(APPROVE, request_id(created), user=CAROL, message=created)
    [made] = policies_named(planetscale, "Prod nightly")
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="x"', user=ALICE)
    deleted = last_message(approvals_bot)
    approvals_bot.click(APPROVE, request_id(deleted), user=CAROL, message=deleted)
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]
    reply = approvals_bot.click(REVERT, revert_value(approvals_bot, created.ts), user=ALICE, message=created)
    assert approvals_bot.executor.wait_idle(60)
    for r in pending_of(approvals_bot, ChangeKind.DELETE):
        approvals_bot.click(APPROVE, r.id, user=CAROL)
    assert approvals_bot.executor.wait_idle(60)
    assert made["id"] in planetscale.policies[("acme", "app-db")], reply.all_text()
    said = "\n".join(e.text for e in approvals_bot.slack.events)
    assert "at least 2 required" in said, said


def test_a_revert_of_a_deletion_whose_name_is_taken_now(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="x"', user=ALICE)
    deleted = last_message(approvals_bot)
    approvals_bot.click(APPROVE, request_id(deleted), user=CAROL, message=deleted)
    planetscale.add_policy("acme", "app-db", "bp09again", name="Production weekly", target="production")
    reply = approvals_bot.click(REVERT, revert_value(approvals_bot, deleted.ts), user=ALICE, message=deleted)
    assert approvals_bot.executor.wait_idle(60)
    for r in pending_of(approvals_bot, ChangeKind.CREATE):
        approvals_bot.click(APPROVE, r.id, user=CAROL)
    assert approvals_bot.executor.wait_idle(60)
    assert len(policies_named(planetscale, "Production weekly")) == 1, reply.all_text()
    assert [c for c in planetscale.calls("POST")] == [], "\n".join(e.text for e in approvals_bot.slack.events)
    assert "already has a policy named" in "\n".join(e.text for e in approvals_bot.slack.events)


def test_a_pending_update_of_a_policy_the_bot_deleted_sends_nothing(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f'update acme/app-db {WEEKLY} retention=30d reason="x"', user=ALICE)
    update = last_message(approvals_bot)
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="x"', user=ALICE)
    deleted = last_message(approvals_bot)
    approvals_bot.click(APPROVE, request_id(deleted), user=CAROL, message=deleted)
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]
    approvals_bot.click(REVERT, revert_value(approvals_bot, deleted.ts), user=ALICE, message=deleted)
    assert approvals_bot.executor.wait_idle(60)
    for r in pending_of(approvals_bot, ChangeKind.CREATE):
        approvals_bot.click(APPROVE, r.id, user=CAROL)
    assert approvals_bot.executor.wait_idle(60)
    [again] = policies_named(planetscale, "Production weekly")
    reply = approvals_bot.click(APPROVE, request_id(update), user=CAROL, message=update)
    assert approvals_bot.executor.wait_idle(60)
    assert planetscale.calls("PATCH") == [], reply.all_text()
    assert planetscale.policy("acme", "app-db", str(again["id"]))["retention_value"] != 30


FLOOR_ONE = """
[[guardrails]]
organizations = ["acme"]
databases = ["floor-db"]
targets = ["production"]
min_policies = 1
"""


def test_two_bulk_moves_and_a_deletion_approved_together_on_two_instances_keep_the_floor(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    for bot in (approvals_bot, second_instance):
        bot.use_rules(RULES.format(approvals=1) + FLOOR_ONE)
    planetscale.add_database("acme", "floor-db")
    for suffix in ("a", "b", "c"):
        planetscale.add_policy("acme", "floor-db", f"floor-{suffix}", name=f"Prod {suffix}", target="production")
    approvals_bot.command('update acme/floor-db "Prod a*" target=development reason="r"', user=ALICE)
    approvals_bot.command('update acme/floor-* "Prod b*" target=development reason="r"', user=ALICE)
    first, second = channel_messages(approvals_bot)
    approvals_bot.command('delete acme/floor-db floor-c reason="r"', user=ALICE)
    third = last_message(approvals_bot)
    clicks = [threading.Thread(target=bot.click, args=args, kwargs={"user": CAROL, "message": message})
              for bot, args, message in ((approvals_bot, (BULK_APPROVE, button(first, BULK_APPROVE)), first),
                                         (second_instance, (BULK_APPROVE, button(second, BULK_APPROVE)), second),
                                         (second_instance, (APPROVE, request_id(third)), third))]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(60)
    for bot in (approvals_bot, second_instance):
        assert bot.executor.wait_idle(60)
    left = [p for p in planetscale.policies[("acme", "floor-db")].values() if p["target"] == "production"]
    assert len(left) == 1, left


def test_two_updates_of_one_policy_each_within_max_storage_alone_are_judged_together(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7GB"))
    approvals_bot.command(f'update acme/app-db {WEEKLY} retention=5w reason="r"', user=ALICE)
    longer = last_message(approvals_bot)
    approvals_bot.command(f'update acme/app-db {WEEKLY} frequency=6d reason="r"', user=ALICE)
    oftener = last_message(approvals_bot)
    assert longer.ts != oftener.ts
    approvals_bot.click(APPROVE, request_id(longer), user=CAROL, message=longer)
    approvals_bot.click(APPROVE, request_id(oftener), user=CAROL, message=oftener)
    assert approvals_bot.executor.wait_idle(60)
    p = planetscale.policy("acme", "app-db", WEEKLY)
    said = "\n".join(e.text for e in approvals_bot.slack.events)
    assert not (p["retention_value"] == 5 and p["frequency_value"] == 6), said


def test_a_bulk_change_and_a_single_change_of_one_policy_approved_together_on_two_instances(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    """Each alone within max_storage; together past it: whichever applies second is judged on the first's result."""
    for bot in (approvals_bot, second_instance):
        bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7GB"))
    approvals_bot.command('update acme/app-db "Production w*" retention=5w reason="r"', user=ALICE)
    [bulk] = channel_messages(approvals_bot)
    approvals_bot.command(f'update acme/app-db {WEEKLY} frequency=6d reason="r"', user=ALICE)
    single = last_message(approvals_bot)
    clicks = [threading.Thread(target=approvals_bot.click, args=(BULK_APPROVE, button(bulk, BULK_APPROVE)),
                               kwargs={"user": CAROL, "message": bulk}),
              threading.Thread(target=second_instance.click, args=(APPROVE, request_id(single)),
                               kwargs={"user": CAROL, "message": single})]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(60)
    for bot in (approvals_bot, second_instance):
        assert bot.executor.wait_idle(60)
    p = planetscale.policy("acme", "app-db", WEEKLY)
    assert (p["retention_value"], p["frequency_value"]) in ((5, 1), (4, 6)), p


RANDOM = "C0RANDOM01"
# Production only in #db-ops; development anywhere, bob asking, with carol's approval.
DEV_ANYWHERE = production_in_db_ops(["U0BOB00001"], ["U0CAROL001"], 1)
HIDDEN = "bphiddenprod7"
DEV = "bp03devday"


def test_a_revert_whose_name_a_hidden_policy_took_names_it_nowhere(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(DEV_ANYWHERE)
    approvals_bot.command(f"delete acme/app-db {DEV}", user=BOB, channel=RANDOM)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == RANDOM]
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, channel=RANDOM, message=message)
    assert approvals_bot.executor.wait_idle(60)
    assert DEV not in planetscale.policies[("acme", "app-db")]
    planetscale.add_policy("acme", "app-db", HIDDEN, name="Development daily", target="production")
    before = len(approvals_bot.slack.events)
    reply = approvals_bot.click(REVERT, revert_value(approvals_bot, message.ts), user=BOB, channel=RANDOM,
                                message=message)
    assert approvals_bot.executor.wait_idle(60)
    said = reply.all_text() + " ".join(e.text + json.dumps(e.blocks) + json.dumps(e.view or {})
                                       for e in approvals_bot.slack.events[before:])
    assert planetscale.calls("POST") == []
    assert HIDDEN not in said, said
