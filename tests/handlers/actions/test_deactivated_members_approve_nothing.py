"""A member deactivated in Slack (users.info answers `deleted: true`; a user group may still list them) counted as a
possible approver and their approval counted: a request whose only approvers were deactivated was posted to wait
for approvals nobody could give, and an approval clicked from a session left open after the deactivation let the
change through. Now the judge asks Slack who is still active: such a request is refused at the door (nothing
posted, nothing sent), an approval by someone deactivated since the ask does not count when it is given nor when
the change applies, and a request whose requester was deactivated is not applied. Through Bolt's pipeline and the
emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from approval_helpers import (
    ALICE,
    CAROL,
    LEADS,
    PROD,
    RULES,
    approvals_bot,
    ask,
    policy_busy,
    request_id,
    swept_later,
    thread_of,
)
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot, answer_lost

from bot.adapters.slack_directory import slack_people
from bot.adapters.slack_http import SlackHttp
from bot.domain.change_requests import RequestState
from bot.domain.group_directory import DirectoryError
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackUser
from bot.runtime.app import slack_client
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

LEADS_GROUP = "S0DBALEAD1"  # @dba-leads: LEADS, the approvers of acme's production policies
LEAD2, LEAD3 = LEADS[1], LEADS[2]


def deactivated(bot: Bot, *users: str) -> None:
    """`users` deactivated in Slack: users.info answers `deleted: true`, and @dba-leads still lists them."""
    for user in users:
        bot.slack.users[user].deleted = True


def state_of(bot: Bot, rid: str) -> RequestState:
    request = bot.deps.store.get_request(rid)
    assert request is not None
    return request.state


def test_a_request_whose_every_approver_is_deactivated_is_refused_at_the_door(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    deactivated(approvals_bot, *LEADS)
    reply = approvals_bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    said = reply.all_text()
    assert "nobody but you" in said and "deactivated in Slack" in said, said
    assert approvals_bot.deps.store.requests() == [], "a request nobody could approve was posted to wait"
    assert reply.public == [] and planetscale.calls("PATCH") == []


def test_a_group_holding_deactivated_members_gives_only_its_active_ones(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Two approvals asked of @dba-leads, three of whose four members are deactivated: only one could give one."""
    approvals_bot.use_rules(RULES.format(approvals=2))
    deactivated(approvals_bot, CAROL, LEAD2, LEAD3)
    reply = approvals_bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    assert "nobody but you" in reply.all_text() and approvals_bot.deps.store.requests() == [], reply.all_text()
    assert approvals_bot.slack.usergroups[LEADS_GROUP]["users"] == LEADS  # Slack's group still lists them


def test_a_group_with_enough_active_members_still_asks_them(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(RULES.format(approvals=2))
    deactivated(approvals_bot, CAROL, LEAD2)
    message = ask(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=LEAD3, message=message)
    approvals_bot.click(APPROVE, request_id(message), user=LEADS[3], message=message)
    assert len(planetscale.calls("PATCH")) == 1
    assert thread_of(approvals_bot, message)[-1].startswith(":white_check_mark: Applied")


def test_an_approval_by_someone_deactivated_after_the_ask_does_not_count(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    deactivated(approvals_bot, CAROL)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)  # a session left open
    assert planetscale.calls("PATCH") == [], "a change was sent on the approval of a deactivated member"
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert len(planetscale.calls("PATCH")) == 1


def test_an_approval_whose_approver_is_deactivated_before_it_applies_does_not_count_then(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves while active; the change waits behind another change's lease and is applied later by the
    sweep, by which time she is deactivated: judged again when it applies, her approval no longer counts."""
    message = ask(approvals_bot)
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [] and state_of(approvals_bot, request_id(message)) is \
        RequestState.APPROVED
    deactivated(approvals_bot, CAROL)
    swept_later(approvals_bot)
    assert planetscale.calls("PATCH") == [], "a change was applied on the approval of a member deactivated since"
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING


def test_a_request_whose_requester_is_deactivated_is_not_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    deactivated(approvals_bot, ALICE)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "a deactivated member's request was applied"
    assert state_of(approvals_bot, request_id(message)) is not RequestState.APPLIED
    assert "deactivated in Slack" in "\n".join(thread_of(approvals_bot, message))


def test_a_change_asking_no_approval_applied_later_asks_again_whether_its_requester_is_active(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Slack delivered alice's command, signed, so she was active then, and it counts as her look-up (Slack
    delivers no deactivated member's commands). Her change waits behind another on the policy; she is deactivated
    meanwhile, and the sweep that applies it two minutes later asks Slack again and sends nothing."""
    now = [0.0]
    approvals_bot.deps.access.people = slack_people(approvals_bot.app.client, clock=lambda: now[0])
    with policy_busy(approvals_bot, "bp03devday"):
        approvals_bot.command("update acme/app-db bp03devday retention=4d", user=ALICE)
    assert planetscale.calls("PATCH") == [] and approvals_bot.slack.method_calls("users.info") == []
    deactivated(approvals_bot, ALICE)
    now[0] += 120
    swept_later(approvals_bot)
    assert planetscale.calls("PATCH") == [], "a change was applied for a member deactivated since they asked"
    assert [args["user"] for args in approvals_bot.slack.method_calls("users.info")] == [ALICE]


def test_a_pending_request_whose_every_approver_is_deactivated_since_is_said_to_have_nobody_left(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Slack's answers are kept a minute: the sweep after it asks again."""
    now = [0.0]
    approvals_bot.deps.access.people = slack_people(approvals_bot.app.client, clock=lambda: now[0])
    message = ask(approvals_bot)
    deactivated(approvals_bot, *LEADS)
    now[0] = 61.0
    swept_later(approvals_bot)
    assert any("Nobody left can approve this request" in t for t in thread_of(approvals_bot, message)), \
        thread_of(approvals_bot, message)
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING and planetscale.calls("PATCH") == []


def test_a_bulk_change_whose_every_approver_is_deactivated_is_refused_at_the_door(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    deactivated(approvals_bot, *LEADS)
    ask_bulk_of_two(approvals_bot, planetscale)
    assert channel_messages(approvals_bot) == [], "a bulk change nobody could approve was posted to wait"
    assert approvals_bot.deps.store.requests() == [] and planetscale.calls("PATCH") == []


def test_a_bulk_approval_by_someone_deactivated_after_the_ask_does_not_count(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command('update acme/* "Production daily" retention=3d reason="audit"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    deactivated(approvals_bot, CAROL)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "a bulk change was sent on the approval of a deactivated member"
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") != []



@pytest.mark.parametrize("odd", ["true", 1, None])
def test_an_approval_by_someone_slack_says_is_deleted_in_an_odd_shape_does_not_count(
        approvals_bot: Bot, planetscale: PlanetScaleState, odd: object) -> None:
    """users.info answering `deleted` as something other than true or false cannot tell whether the member is
    active: their approval is not counted on it, and they are told it could not be checked."""
    message = ask(approvals_bot)
    approvals_bot.slack.users[CAROL].deleted = odd  # type: ignore[assignment]
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], f"a change was sent on an approval with deleted={odd!r}"
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING
    said = reply.all_text() + "\n".join(thread_of(approvals_bot, message))
    assert "could not be checked" in said, said


def test_a_click_while_slack_rate_limits_users_info_asks_it_once_and_is_answered(
        approvals_bot: Bot, planetscale: PlanetScaleState, settings: Any) -> None:
    """Slack refuses users.info for a while (429, Retry-After 30): the look-up that found it so is the click's only
    one, its tries and waits included, and the click is answered with the reason; the next look-ups are not each
    waited out again (a minute each: three for this click, fifty for a group's)."""
    slept: list[float] = []
    approvals_bot.deps.access.people = slack_people(slack_client(settings, SlackHttp(sleep=slept.append)))
    message = ask(approvals_bot)
    asked_before = len(approvals_bot.slack.method_calls("users.info"))
    approvals_bot.slack.add_fault(MethodFault("users.info", status=429, retry_after=30, times=None))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [] and "could not be checked" in reply.all_text(), reply.all_text()
    assert len(approvals_bot.slack.method_calls("users.info")) - asked_before == 3 and sum(slept) == 60, slept


def test_a_click_on_a_request_of_a_large_group_mostly_deactivated_asks_slack_only_about_its_people(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """@dba-leads lists 2,000 deactivated members before its four active ones; three approvals are asked. The ask
    looks up its possible approvers (50 at most); each click asked them all again (52 users.info each, past
    Slack's 100 a minute for users.info at the second click), where only the requester's and the approvals'
    must be as fresh as the click: who might approve is kept as long as any answer."""
    approvals_bot.use_rules(RULES.format(approvals=3))
    gone = [f"U0GONE{n:04d}" for n in range(2000)]
    for user in gone:
        approvals_bot.slack.add_user(SlackUser(user, user.lower(), user, f"{user.lower()}@acme.example"))
    deactivated(approvals_bot, *gone)
    approvals_bot.slack.usergroups[LEADS_GROUP]["users"] = [*gone, *LEADS]
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    for clicking in (CAROL, LEAD2):
        asked_before = len(approvals_bot.slack.method_calls("users.info"))
        approvals_bot.click(APPROVE, request_id(message), user=clicking, message=message)
        asked = approvals_bot.slack.method_calls("users.info")[asked_before:]
        assert len(asked) <= 3, f"a click asked users.info {len(asked)} times"
    approvals_bot.click(APPROVE, request_id(message), user=LEAD3, message=message)
    assert len(planetscale.calls("PATCH")) == 1


def test_slack_not_showing_one_person_holds_up_no_look_up_of_another(approvals_bot: Bot) -> None:
    """users.info answering `user_not_visible` is about that person, not the method: the look-ups after it, of
    others, are asked and answered, not refused for the seconds a method's failure is kept."""
    people = slack_people(approvals_bot.app.client)
    approvals_bot.slack.add_fault(MethodFault("users.info", error="user_not_visible", times=1))
    with pytest.raises(DirectoryError, match="user_not_visible"):
        people.active(LEAD3)
    assert people.active(CAROL) is True


@pytest.mark.parametrize("answered", ["late", "never"])
def test_an_approval_while_slack_does_not_answer_users_info_is_told_why_and_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState, settings: Any, answered: str) -> None:
    """carol approves while Slack answers users.info only after the bot stopped waiting, or cannot be reached: she
    heard "Something went wrong inside the bot", as a timeout was not a failed look-up. Now she hears that it could
    not be checked, and nothing is sent."""
    message = ask(approvals_bot)
    if answered == "late":
        with answer_lost(approvals_bot, "users.info", times=None):
            reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    else:
        nowhere = replace(settings, slack_api_url="http://127.0.0.1:9/api/")  # a port nothing listens on
        approvals_bot.deps.access.people = slack_people(slack_client(nowhere, SlackHttp(sleep=lambda _: None)))
        reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    said = reply.all_text()
    assert "Something went wrong" not in said and "could not be checked" in said, said
    assert planetscale.calls("PATCH") == []
