"""A creation PlanetScale answered with its own 500, closed as not applied on a list that did not show it yet
(PlanetScale may still make it: the watch takes it as the bot's within 15 minutes): its name is not free for
another creation of the bot's in that time, asked again, approved, or the Revert of a deletion clicked again, so
that the bot does not make two policies of one name (SQLite and PostgreSQL)."""

from __future__ import annotations

from approval_helpers import ALICE, BOB, CAROL, approvals_bot, request_id, request_message
from backup_reads import moved_clock
from conftest import Bot
from test_create_delete import NIGHTLY, PROD_NIGHTLY, policies_named, revert_value

from bot.domain.change_requests import ChangeKind, RequestState
from bot.emulators.planetscale_schedule import iso_time, utc_now
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

NOT_CONFIRMED = ("the bot's creation or rename of a policy to “{}” in app-db was not confirmed, and PlanetScale "
                 "may still carry it out")


def failed(bot: Bot) -> list[str]:
    return [r.id for r in bot.deps.store.requests([RequestState.FAILED]) if r.kind is ChangeKind.CREATE]


def test_a_creation_asked_again_while_the_first_may_still_land_is_refused(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Before: the second create was sent; the first POST then landed too: two policies named "Nightly"."""
    now = moved_clock(approvals_bot)
    planetscale.add_fault(Fault(status=500, method="POST"))
    approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    assert len(failed(approvals_bot)) == 1
    again = approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=BOB)
    assert NOT_CONFIRMED.format("Nightly") in again.all_text(), again.all_text()
    assert len(planetscale.calls("POST")) == 1
    first = approvals_bot.deps.store.get_request(failed(approvals_bot)[0])
    assert first is not None
    planetscale.add_policy("acme", "app-db", None, **first.changes, created_at=iso_time(utc_now()))  # landed late
    assert len(policies_named(planetscale, "Nightly")) == 1
    planetscale.dashboard_delete("acme", "app-db", str(policies_named(planetscale, "Nightly")[0]["id"]))
    now[0] += 16 * 60  # past the 15 minutes: the name is free again
    approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=BOB)
    assert len(planetscale.calls("POST")) == 2 and len(policies_named(planetscale, "Nightly")) == 1


def test_a_creation_planetscale_refused_leaves_its_name_free(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=422, method="POST"))
    approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    assert len(failed(approvals_bot)) == 1
    approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    assert len(planetscale.calls("POST")) == 2 and len(policies_named(planetscale, "Nightly")) == 1


def test_a_second_creation_approved_while_the_first_may_still_land_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Both asked while the name was free; the first approved and answered 500; the second, judged again under
    the database's lease, is refused. Before: sent, and two policies named "Prod nightly" once the first landed."""
    approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    first, second = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                     and e.channel in approvals_bot.slack.channels]
    planetscale.add_fault(Fault(status=500, method="POST"))
    approvals_bot.click(APPROVE, request_id(first), user=CAROL, message=first)
    reply = approvals_bot.click(APPROVE, request_id(second), user=CAROL, message=second)
    assert len(planetscale.calls("POST")) == 1, reply.all_text()
    later = approvals_bot.deps.store.get_request(request_id(second))
    assert later is not None and later.state is RequestState.FAILED
    told = str(later.detail).replace("\u2068", "").replace("\u2069", "")  # marks of text from outside
    assert NOT_CONFIRMED.format("Prod nightly") in told, told


def test_a_deletions_revert_clicked_again_while_its_first_creation_may_still_land_makes_no_second_copy(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """One revert per change: before, the second click asked and sent a second creation of the deleted policy,
    and the first POST's late landing left two copies, both recorded applied."""
    approvals_bot.command("delete acme/app-db bp03devday", user=ALICE)
    deletion = request_message(approvals_bot)
    planetscale.add_fault(Fault(status=500, method="POST"))
    approvals_bot.click(REVERT, revert_value(approvals_bot, deletion.ts), user=ALICE, message=deletion)
    assert approvals_bot.executor.wait_idle(60) and len(failed(approvals_bot)) == 1
    seen = len(approvals_bot.slack.events)
    approvals_bot.click(REVERT, revert_value(approvals_bot, deletion.ts), user=BOB, message=deletion)
    assert approvals_bot.executor.wait_idle(60)
    said = "\n".join(e.text for e in approvals_bot.slack.events[seen:])
    assert len(planetscale.calls("POST")) == 1, said
    assert NOT_CONFIRMED.format("Development daily") in said, said


def test_a_rename_that_may_still_land_keeps_its_new_name_from_a_creation_but_not_from_itself(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """A rename's PATCH answered 500 and closed as not applied may still give its policy the name: a creation of
    that name is refused meanwhile (before: made, and two policies of one name once the PATCH landed); the same
    rename asked again is the policy's own and goes ahead."""
    planetscale.add_fault(Fault(status=500, method="PATCH"))
    approvals_bot.command('update acme/app-db bp03devday name="Nightly"', user=ALICE)
    assert [r.state for r in approvals_bot.deps.store.requests(list(RequestState))] == [RequestState.FAILED]
    again = approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=BOB)
    assert NOT_CONFIRMED.format("Nightly") in again.all_text(), again.all_text()
    assert planetscale.calls("POST") == []
    approvals_bot.command('update acme/app-db bp03devday name="Nightly"', user=ALICE)
    assert planetscale.policy("acme", "app-db", "bp03devday")["name"] == "Nightly"
