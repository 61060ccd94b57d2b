"""Changes to one policy made at once in one process take turns: each claims the policy's lease once, when its
turn comes, instead of asking the database for it every few milliseconds while another change holds it."""

from __future__ import annotations

import threading

from conftest import SIGNING_SECRET, Bot
from slack_bolt import BoltRequest

from bot.domain.changes import PolicyTurns
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack_requests import signed_headers


def test_a_burst_of_changes_to_one_policy_claims_its_lease_once_each(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(delay=0.3, method="PATCH", times=None))  # each change holds the lease a while
    claims: list[str] = []
    claim = bot.deps.store.claim_for_applying

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims.append(args[0].id)
        return claim(*args, **kwargs)

    bot.deps.store.claim_for_applying = counted  # type: ignore[method-assign]
    fields = ["retention=9d", "frequency=12h", "at=03:00", "retention=10d"]
    for change in fields:
        body = bot.command_body(f"update acme/app-db bp03devday {change}")
        bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))
    assert bot.executor.wait_idle(timeout=60)
    assert len(claims) == len(set(claims)) == len(fields)
    answered = [e for e in bot.slack.events if e.kind in ("message", "response")]
    assert len(answered) >= len(fields)  # each change applied or told why not
    assert 1 <= len(planetscale.calls("PATCH")) <= len(fields)


def test_a_turn_not_given_in_time_says_so_and_the_turns_are_forgotten_once_unused() -> None:
    turns = PolicyTurns()
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn("acme/app-db/bp01", 5) as mine:
            assert mine
            holding.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(60)
    with turns.turn("acme/app-db/bp01", 0.05) as mine:
        assert not mine
    with turns.turn("acme/app-db/bp02", 0.05) as mine:  # another policy: its own turn
        assert mine
    done.set()
    holder.join(5)
    with turns.turn("acme/app-db/bp01", 0.05) as mine:
        assert mine
    assert turns._turns == {}
