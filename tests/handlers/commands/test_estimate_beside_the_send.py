"""The storage estimate of a change that needs no approval, under no storage bound, is read beside the judging and
the PATCH (only shown, never judged). A wait of that read (PlanetScale's Retry-After, the bot's budget) does not
hold the PATCH up, so it does not make the send's fence judge the change again: the policy is read once per step,
and nothing is read twice. Through Bolt's pipeline, on SQLite and PostgreSQL, PlanetScale's emulator counting
the calls. (The branches are read before the lease and waited for under it: a wait of theirs is told to the
fence, which judges again, tests/handlers/actions/test_judged_again_after_the_branches_waited.py.)"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from approval_helpers import approvals_bot
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

T = TypeVar("T")


def beside_first(bot: Bot) -> None:
    """The change path's reads beside its work still run on their own threads; each is let finish before the work
    goes on, so its waits land before the PATCH leaves (as they do whenever the read is quicker than the judging)."""
    fork = bot.deps.changes.fork

    def finished_first(work: Callable[[], T]) -> Callable[[], T]:
        done = fork(work)
        with contextlib.suppress(Exception):  # raised again to whoever waits for it
            done()
        return done

    bot.deps.changes.fork = finished_first  # type: ignore[method-assign]


def reads(planetscale: PlanetScaleState) -> Counter[str]:
    def kind(path: str) -> str:
        for end in ("/backup-policies", "/branches", "/backups"):
            if path.split("?")[0].endswith(end):
                return end.strip("/")
        return path

    return Counter(kind(c.path) for c in planetscale.calls("GET"))


def test_a_wait_of_the_estimate_read_beside_the_send_reads_the_policy_once(
    approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]
) -> None:
    bot = approvals_bot
    beside_first(bot)
    planetscale.add_fault(Fault(status=429, method="GET", path_ends="/backups", times=1, retry_after="2"))
    reply = bot.command('update acme/app-db bp03devday retention=30d')
    assert len(planetscale.calls("PATCH")) == 1
    assert sleeps == [2.0]  # the estimate's read waited once
    counted: dict[str, Any] = dict(reads(planetscale))
    assert counted["backup-policies"] == 1, counted  # the policy read once under the lease: not judged again
    assert "30 days" in reply.all_text()
