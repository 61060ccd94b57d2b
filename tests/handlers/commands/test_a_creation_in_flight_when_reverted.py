"""A creation whose POST has not been answered (a gateway's 504: PlanetScale may still carry it out) when someone
clicks Revert, on it or again on the deletion it reverts, through Bolt on SQLite and PostgreSQL: nothing more is
asked or sent; once PlanetScale shows the policy the creation is applied, and only then revertible."""

from __future__ import annotations

from approval_helpers import ALICE, BOB, approvals_bot, request_message, sweep
from conftest import Bot
from test_create_delete import policies_named, revert_value

from bot.domain.change_requests import ChangeKind, RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.planetscale_schedule import iso_time, utc_now
from handlers.blocks import REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # "Development daily": development, changed at once


def said_since(bot: Bot, seen: int) -> str:
    return "\n".join(e.text for e in bot.slack.events[seen:])


def test_reverts_clicked_while_a_creation_is_unconfirmed_ask_and_send_nothing_more(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE)
    deletion = request_message(approvals_bot)
    was = planetscale.calls("DELETE")
    assert len(was) == 1
    planetscale.add_fault(Fault(status=504, method="POST"))
    approvals_bot.click(REVERT, revert_value(approvals_bot, deletion.ts), user=ALICE, message=deletion)
    assert approvals_bot.executor.wait_idle(60)
    [creation] = [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.kind is ChangeKind.CREATE]
    assert creation.state is RequestState.APPLYING and creation.revert_of == request_id_of(approvals_bot, DEV)
    seen = len(approvals_bot.slack.events)
    approvals_bot.click(REVERT, revert_value(approvals_bot, deletion.ts), user=BOB, message=deletion)
    approvals_bot.click(REVERT, creation.id, user=BOB)
    assert approvals_bot.executor.wait_idle(60)
    said = said_since(approvals_bot, seen)
    assert "This revert is already asked by" in said, said
    assert "Only an applied change can be reverted, and this one is being applied" in said, said
    assert len(planetscale.calls("POST")) == 1 and planetscale.calls("DELETE") == was
    assert len(approvals_bot.deps.store.requests(list(RequestState))) == 2
    # The POST carried out late: the sweep settles the creation on what PlanetScale lists.
    made = planetscale.add_policy("acme", "app-db", None, **creation.changes,
                                  created_at=iso_time(utc_now()))
    sweep(approvals_bot)
    done = approvals_bot.deps.store.get_request(creation.id)
    assert done is not None and done.state is RequestState.APPLIED and done.policy_id == made["id"], done
    seen = len(approvals_bot.slack.events)
    approvals_bot.click(REVERT, revert_value(approvals_bot, deletion.ts), user=BOB, message=deletion)
    assert approvals_bot.executor.wait_idle(60)
    assert "This deletion was already reverted by" in said_since(approvals_bot, seen)
    assert len(policies_named(planetscale, "Development daily")) == 1 and len(planetscale.calls("POST")) == 1
    approvals_bot.click(REVERT, creation.id, user=BOB)  # now applied: its revert deletes the policy it made
    assert approvals_bot.executor.wait_idle(60)
    assert planetscale.calls("DELETE")[-1].path.endswith(f"/{made['id']}")
    assert policies_named(planetscale, "Development daily") == []


def request_id_of(bot: Bot, policy_id: str) -> str:
    [request] = [r for r in bot.deps.store.requests(list(RequestState)) if r.policy_id == policy_id]
    return request.id
