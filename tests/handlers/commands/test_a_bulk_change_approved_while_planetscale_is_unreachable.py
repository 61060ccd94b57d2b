"""A bulk change over many databases approved as PlanetScale stops answering at all (connections refused, or every
call timing out). Each policy paid its own tries: its read under the lease (four tries), or its PATCH and then the
read that settles it (four more), one database after another, holding the approver's click. Now the first policy
that finds PlanetScale unreachable ends its own try (a PATCH that got no answer is still settled by reading it) and
the others are left, approved, for the sweep, which applies them once PlanetScale answers. Through Bolt, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from approval_helpers import CAROL, approvals_bot, swept_later
from bulk_helpers import asked_over_databases, button, latest, retentions
from conftest import Bot, ToTheEmulator, planetscale_client_over, unreachable

from bot.adapters.planetscale import PlanetScaleClient
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.serving import BackgroundServer
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

COUNT = 12


class Network(ToTheEmulator):
    """The way to PlanetScale: the emulator while up; refused or timing out once `down` says so."""

    def __init__(self) -> None:
        super().__init__()
        self.down: str | None = None  # "refused" or "timeout"
        self.after_patch: str | None = None  # goes down as the first PATCH leaves
        self.failed: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.after_patch and request.method == "PATCH":
            self.down, self.after_patch = self.after_patch, None
        if self.down is not None:
            self.failed.append(request.method)
            unreachable(self.down, request)
        return super().handle_request(request)


@pytest.fixture
def network() -> Network:
    return Network()


@pytest.fixture
def planetscale_client(planetscale_server: tuple[object, BackgroundServer], planetscale: PlanetScaleState,
                       sleeps: list[float], network: Network) -> Iterator[PlanetScaleClient]:
    yield from planetscale_client_over(planetscale_server[1], sleeps, network)


@pytest.mark.parametrize("how", ["refused", "timeout"])
@pytest.mark.parametrize("when", ["before the first read", "as the first PATCH leaves"])
def test_a_bulk_change_approved_as_planetscale_goes_unreachable_leaves_the_rest_to_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float], network: Network, how: str,
        when: str) -> None:
    bot = approvals_bot
    names, message = asked_over_databases(bot, planetscale, COUNT)
    batch_id = button(message, BULK_APPROVE)
    changes = bot.deps.changes
    apply_approved = changes.apply_approved

    def going_down(member, by):  # type: ignore[no-untyped-def]
        if not network.down and not network.after_patch and not network.failed:
            if when == "before the first read":
                network.down = how
            else:
                network.after_patch = how
        return apply_approved(member, by)

    changes.apply_approved = going_down  # type: ignore[method-assign]
    try:
        sleeps.clear()
        bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    finally:
        changes.apply_approved = apply_approved  # type: ignore[method-assign]
    assert len(network.failed) <= 8, f"{len(network.failed)} calls into an unreachable PlanetScale: {network.failed}"
    view = json.dumps(latest(bot, message).blocks, ensure_ascii=False)
    assert "still in progress" in view and "not applied yet" in view, view[:3000]
    assert "no answer at all" in view, view[:3000]  # why the others wait
    network.down = None
    swept_later(bot, 120)  # PlanetScale answers again
    held = retentions(planetscale, names)
    assert held.count(14) >= COUNT - 1, held


def test_a_sweep_finding_planetscale_unreachable_leaves_the_rest_to_its_next_pass(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float], network: Network) -> None:
    bot = approvals_bot
    names, message = asked_over_databases(bot, planetscale, COUNT)
    network.down = "refused"
    bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    network.failed.clear()
    swept_later(bot, 120)  # still no answer: one policy's tries, not every database's
    assert len(network.failed) <= 8, f"{len(network.failed)} calls into an unreachable PlanetScale: {network.failed}"
    network.down = None
    swept_later(bot, 240)
    held = retentions(planetscale, names)
    assert held.count(14) == COUNT, held
