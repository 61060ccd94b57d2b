"""The calls one change waits for, one after another (docs/benchmarks.md, round trips): an `update` of a
development policy (no approval) waits for PlanetScale's list of policies (read under the policy's lease), then
its one PATCH, then posts its result; the database's branches and the backups the estimate is read from go beside
those, never before them. An approval click waits for the approver's user groups, the list, the PATCH, then
updates the message. Each extra call, or a read that comes to wait before the PATCH, fails here. Driven through
Bolt's pipeline with the emulators; the held answers are PlanetScale's own (a Fault's `until`), never a timing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from approval_helpers import CAROL, approvals_bot, ask, request_id
from conftest import Bot
from test_one_judge import dispatch

from bot.emulators.planetscale_state import Fault, PlanetScaleState, RecordedRequest
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: applied at once, with no approval
LIST, BRANCHES, BACKUPS, PATCH = "list policies", "list branches", "list backups", "PATCH"


def kind(request: RecordedRequest) -> str:
    if request.method == "PATCH":
        return PATCH
    if request.path.endswith("/backup-policies"):
        return LIST
    if request.path.endswith("/branches"):
        return BRANCHES
    if request.path.endswith("/backups"):
        return BACKUPS
    return f"{request.method} {request.path}"


def kinds_since(planetscale: PlanetScaleState, since: int) -> list[str]:
    return [kind(r) for r in planetscale.calls()[since:]]


def wait_until(seen: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not seen():
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.01)


@contextmanager
def held(planetscale: PlanetScaleState, path_ends: str) -> Iterator[None]:
    """PlanetScale's answers to the GETs ending in `path_ends` held until the block ends."""
    gate = threading.Event()
    planetscale.add_fault(Fault(method="GET", path_ends=path_ends, until=gate, times=None))
    try:
        yield
    finally:
        gate.set()


def update(bot: Bot, retention: str) -> None:
    dispatch(bot, bot.command_body(f"update acme/app-db {DEV} retention={retention}"))


def settled(bot: Bot) -> None:
    assert bot.executor.wait_idle(timeout=60), "background work did not finish"
    assert bot.slack.events[-1].text.startswith(":white_check_mark:")


def test_an_update_makes_one_read_under_its_lease_one_patch_and_one_post(approvals_bot: Bot,
                                                                          planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.command(f"update acme/app-db {DEV} retention=5d")  # connections opened, groups listed
    since, slack_since = len(planetscale.calls()), len(bot.slack.calls)
    bot.command(f"update acme/app-db {DEV} retention=6d")
    made = kinds_since(planetscale, since)
    # The estimate's basis (branches, then the dev branch's backups) beside the list and the PATCH: four requests,
    # of which the person waits for two. No read-back of an answered PATCH.
    assert Counter(made) == Counter({LIST: 1, BRANCHES: 1, BACKUPS: 1, PATCH: 1})
    assert made.index(LIST) < made.index(PATCH) and made.index(BRANCHES) < made.index(BACKUPS)
    assert Counter(name for name, _ in bot.slack.calls[slack_since:]) == Counter({"chat.postMessage": 1})


def test_the_branches_are_read_beside_the_policy_not_before_it(approvals_bot: Bot,
                                                              planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.command(f"update acme/app-db {DEV} retention=5d")
    since = len(planetscale.calls())
    with held(planetscale, "/branches"):
        update(bot, "6d")
        # The policy's list is asked while the branches' answer is still held: neither waits for the other.
        wait_until(lambda: LIST in kinds_since(planetscale, since), "the policy's read")
        assert PATCH not in kinds_since(planetscale, since)  # judged on the branches too: they came first
    settled(bot)
    assert Counter(kinds_since(planetscale, since))[PATCH] == 1


def test_the_patch_leaves_while_the_estimates_backups_are_still_being_read(approvals_bot: Bot,
                                                                          planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.command(f"update acme/app-db {DEV} retention=5d")
    since, posts = len(planetscale.calls()), len(bot.slack.method_calls("chat.postMessage"))
    with held(planetscale, "/backups"):
        update(bot, "6d")
        # No storage bound for development: the PATCH leaves while the backups' answer is held; the result is
        # posted with the facts once they land.
        wait_until(lambda: PATCH in kinds_since(planetscale, since), "the PATCH")
        assert len(bot.slack.method_calls("chat.postMessage")) == posts
    settled(bot)
    assert len(bot.slack.method_calls("chat.postMessage")) == posts + 1


def test_an_approval_click_reads_the_groups_the_policy_and_sends_one_patch(approvals_bot: Bot,
                                                                           planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    message = ask(bot)
    since, slack_since = len(planetscale.calls()), len(bot.slack.calls)
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert kinds_since(planetscale, since) == [LIST, PATCH]
    names = [name for name, _ in bot.slack.calls[slack_since:]]
    # Before the message is updated: only the approver's groups as they are now, and whether Slack still has the
    # requester and the approver active. The thread's reply and the requester's message come after it.
    assert names[:names.index("chat.update")] == ["usergroups.list", "users.info", "users.info"]
    assert Counter(names) == Counter({"usergroups.list": 1, "users.info": 2, "chat.update": 1, "chat.postMessage": 2})
