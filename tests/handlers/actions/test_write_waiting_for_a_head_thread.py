"""Issue 19: a write that waited for its turn to be sent (every thread that waits for an answer's head was taken by
answers trickled elsewhere) after its fence let it go is judged again before it leaves: that wait is after the
fence, told by nobody, and the policy may have moved meanwhile. Through Bolt's pipeline and the emulators; time
moves only on the injected clock."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.ports import FRESH_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


class _TakenTurns:
    """The head threads' turns, every one taken: the first wait for one lasts `FRESH_SECONDS + 1` on the injected
    clock, during which `meanwhile` happens (the policy moved in PlanetScale), then a thread frees."""

    def __init__(self, real: threading.BoundedSemaphore, now: list[float], meanwhile: Any):
        self.real, self.now, self.meanwhile, self.waited = real, now, meanwhile, 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if blocking and not self.waited:
            self.waited += 1
            self.meanwhile()
            self.now[0] += FRESH_SECONDS + 1
            return self.real.acquire(timeout=1.0)
        if not blocking and not self.waited:
            return False  # taken: a wait follows
        return self.real.acquire(blocking, timeout) if blocking else self.real.acquire(False)

    def release(self) -> None:
        self.real.release()


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_write_that_waited_for_a_thread_to_send_it_is_judged_again_on_a_policy_moved_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState, planetscale_client: Any,
        monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """alice's no-approval change of a development policy passes its fence on a fresh read; its write then waits
    for a thread to send it (all taken), longer than a read stays fresh, while the policy is moved to production,
    where a change needs an approval. It must not reach the production policy."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    threads = planetscale_client._within.threads
    taken = _TakenTurns(threads.free, now,
                        lambda: planetscale.dashboard_change("acme", "app-db", DEV, target="production"))
    real_send = planetscale_client._within.send

    def send(request: Any, deadline: float, **kwargs: Any) -> Any:
        if request.method != method or taken.waited:
            return real_send(request, deadline, **kwargs)
        monkeypatch.setattr(threads, "free", taken)  # this write's turn, and those after it, wait once
        return real_send(request, deadline, **kwargs)

    monkeypatch.setattr(planetscale_client._within, "send", send)
    text = f"update acme/app-db {DEV} retention=9d" if method == "PATCH" else f"delete acme/app-db {DEV}"
    reply = approvals_bot.command(text, user=ALICE)
    assert taken.waited, reply.all_text()
    assert DEV in planetscale.policies[("acme", "app-db")], (
        f"a DELETE reached a production policy with no approval: {reply.all_text()}")
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] != 9 and not planetscale.calls(method), (
        f"a {method} reached a production policy with no approval: {reply.all_text()}")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()
