"""A deletion's Revert makes the policy again once: a later click on the same button, after that revert was
applied, says so and sends nothing, whatever became of the policy made again (renamed, so that its name no longer
stops a second copy). Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, BOB, approvals_bot, second_instance
from conftest import Bot

from bot.domain.change_requests import ChangeKind, RequestState
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import REVERT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"  # "Development daily": development, changed at once under the rules


def revert_button(bot: Bot, request_id: str) -> str:
    """The Revert button's value on the message that told the request applied."""
    for event in reversed(bot.slack.events):
        for block in event.blocks or []:
            for element in block.get("elements", []):
                if element.get("action_id") == REVERT and element.get("value") == request_id:
                    return request_id
    raise AssertionError(f"no Revert button for {request_id}")


def applied(bot: Bot, kind: ChangeKind, revert_of: str | None = None) -> list[str]:
    return [r.id for r in bot.deps.store.requests([RequestState.APPLIED], limit=None)
            if r.kind is kind and r.revert_of == revert_of]


def test_a_deletion_reverted_once_is_not_made_again_by_a_second_click(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE)
    [deletion] = applied(approvals_bot, ChangeKind.DELETE)
    button = revert_button(approvals_bot, deletion)
    approvals_bot.click(REVERT, button, user=ALICE)
    [again] = [p for p in planetscale.policies[("acme", "app-db")].values() if p["name"] == "Development daily"]
    planetscale.dashboard_change("acme", "app-db", str(again["id"]), name="Dev daily (kept)")
    [revert] = applied(approvals_bot, ChangeKind.CREATE, revert_of=deletion)
    second = approvals_bot.click(REVERT, button, user=BOB)
    assert len(planetscale.calls("POST")) == 1, "one revert, one policy made again"
    assert "already reverted" in second.all_text() and revert[:8] in second.all_text(), second.all_text()
    assert applied(approvals_bot, ChangeKind.CREATE, revert_of=deletion) == [revert]


def test_a_second_click_on_a_reverted_deletion_is_told_it_was_reverted_not_that_its_name_is_taken(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE)
    [deletion] = applied(approvals_bot, ChangeKind.DELETE)
    approvals_bot.click(REVERT, deletion, user=ALICE)
    second = approvals_bot.click(REVERT, deletion, user=ALICE)
    assert "already reverted" in second.all_text() and "choose another name" not in second.all_text()
    assert len(planetscale.calls("POST")) == 1
