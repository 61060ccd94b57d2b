"""PlanetScale's budget shared by instances on PostgreSQL is one row; another session holding it (an operator's
`SELECT ... FOR UPDATE` left open, an instance frozen inside its reservation) made every person's command wait for
it, each request up to the lock timeout, then again every few seconds. Now a reservation waits for the row a
moment only, and meanwhile the instance keeps to its share of the budget, as when the database refuses. The
store's lock timeout is set far past the test's bound, so a reservation that waits for the row fails the test."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot, acked_while
from row_locks import held, lock_waits_long, on_postgresql

from bot.adapters.rate_limit import RateLimiter
from bot.adapters.shared_budget import SharedRateLimiter
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot", "lock_waits_long", "on_postgresql"]  # fixtures, used by name

# Far past a command's answer, far short of the statement timeout that would end a wait for the lock.
ANSWER_BOUND = 20.0


def test_a_command_is_answered_while_another_session_holds_the_budgets_row(
        lock_waits_long: None, approvals_bot: Bot, planetscale: PlanetScaleState, planetscale_client: object,
        on_postgresql: str, caplog: pytest.LogCaptureFixture) -> None:
    store = approvals_bot.deps.store
    limiter = SharedRateLimiter.sharing(store, planetscale_client.token_id,  # type: ignore[attr-defined]
                                        RateLimiter(600, 60.0))
    planetscale_client.limiter = limiter  # type: ignore[attr-defined]
    limiter.acquire()  # the row is there, as after any request
    with held(on_postgresql, "planetscale_budget", "name", limiter.name):
        reply = acked_while(lambda: approvals_bot.command("list acme/app-db", user=ALICE), ANSWER_BOUND,
                            "the command")
        sent = len(planetscale.calls("GET"))
        again = acked_while(lambda: approvals_bot.command("list acme/app-db", user=ALICE), ANSWER_BOUND,
                            "the second command")
    assert "bp01prod12h" in reply.all_text() and "bp01prod12h" in again.all_text(), reply.all_text()
    assert len(planetscale.calls("GET")) > sent
    assert "keeps to its share of it" in caplog.text
