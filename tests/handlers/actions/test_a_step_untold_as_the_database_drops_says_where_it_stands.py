"""A step that moved its request (a change applied, a policy deleted, an approval recorded or one that applied the
change) and then meets a database that drops its connection: the person hears where the request stands (applied,
waiting for approval, their approval recorded), never "nothing more was done" beside what is on the record or in
PlanetScale; and the sweep tells it, or carries it on, once the database is back. Through Bolt's pipeline, SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, PROD, approvals_bot, ask, request_id, swept_later
from conftest import Bot
from store_calls import watched_store

from bot.adapters.store import Store
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"


@contextmanager
def dropped_on(store: Store, method: str, after: str) -> Iterator[None]:
    """The store's first call of `method` made after a call of `after` fails as a connection the database dropped
    fails it; every other call is the store's own."""
    seen = dropped = False

    def called(name: str) -> None:
        nonlocal seen, dropped
        if name == method and seen and not dropped:
            dropped = True
            raise sa.exc.OperationalError(name, {}, Exception("server closed the connection unexpectedly"))
        if name == after:
            seen = True

    with watched_store(store, called):
        yield
    assert dropped, f"no {method} after {after}"


def private_words(bot: Bot, reply: Any) -> str:
    return " ".join(e.text for e in reply.private)


def test_a_change_applied_at_once_whose_telling_meets_a_dropped_connection_is_told_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    with dropped_on(approvals_bot.deps.store, "claim_notices", after="transition"):
        reply = approvals_bot.command(f"update acme/app-db {DEV} retention=2d", user=ALICE)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 2
    said = private_words(approvals_bot, reply)
    assert "nothing more was done" not in said, said
    assert "applied" in said and "sweep" in said, said
    [request] = approvals_bot.deps.store.requests([RequestState.APPLIED])
    swept_later(approvals_bot)
    posted = [e.text for e in approvals_bot.slack.events if e.kind == "message" and e.channel == request.channel]
    assert any("changed the backup policy" in text for text in posted), posted


def test_a_deletion_whose_telling_meets_a_dropped_connection_is_told_deleted(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    with dropped_on(approvals_bot.deps.store, "claim_notices", after="transition"):
        reply = approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE)
    assert DEV not in planetscale.policies[("acme", "app-db")]
    said = private_words(approvals_bot, reply)
    assert "nothing more was done" not in said, said
    assert "applied" in said and "sweep" in said, said


def test_an_approval_that_applied_the_change_whose_telling_meets_a_dropped_connection_is_told_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    with dropped_on(approvals_bot.deps.store, "batch_of_request", after="transition"):
        reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    said = private_words(approvals_bot, reply)
    [request] = approvals_bot.deps.store.requests([RequestState.APPLIED])
    assert "nothing more was done" not in said, said
    assert "applied" in said and "sweep" in said, said
    assert request.id == request_id(message)


def test_a_request_stored_whose_post_meets_a_dropped_connection_is_told_waiting_and_listed_to_its_approvers(
        approvals_bot: Bot) -> None:
    with dropped_on(approvals_bot.deps.store, "claim_notice", after="add_request"):
        reply = approvals_bot.command(f"update acme/app-db {PROD} retention=1d", user=ALICE)
    said = private_words(approvals_bot, reply)
    assert "nothing more was done" not in said, said
    assert "waiting for approval" in said and "/backup-policy pending" in said, said
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    listed = approvals_bot.command("pending", user=CAROL)
    assert request.id in listed.all_text()


def test_an_approval_recorded_whose_step_meets_a_dropped_connection_is_told_recorded_and_applied_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    with dropped_on(approvals_bot.deps.store, "transition", after="add_approval"):
        reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    said = private_words(approvals_bot, reply)
    assert "nothing more was done" not in said, said
    assert "Your approval" in said and "is recorded" in said and "sweep" in said, said
    assert approvals_bot.deps.store.approvers_of(request_id(message)) == [CAROL]
    swept_later(approvals_bot)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 1
    [request] = approvals_bot.deps.store.requests([RequestState.APPLIED])
    assert request.id == request_id(message)
