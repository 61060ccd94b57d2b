"""A PATCH PlanetScale may have carried out is never sent again: a lost answer or a 5xx is settled by reading the
policy under the lease, so a second send cannot land on a policy changed since the first."""

from __future__ import annotations

import pytest
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState


@pytest.mark.parametrize("status", [500, 503, 504])
def test_a_patch_that_landed_but_answered_5xx_is_sent_once_and_told_applied(
        bot: Bot, planetscale: PlanetScaleState, status: int) -> None:
    planetscale.add_fault(Fault(status=status, method="PATCH", landed=True))
    reply = bot.command("update acme/app-db bp01prod12h retention=30d")
    assert len(planetscale.calls("PATCH")) == 1
    [request] = bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED
    assert planetscale.policies[("acme", "app-db")]["bp01prod12h"]["retention_value"] == 30
    assert "changed the backup policy" in reply.all_text() and "Not applied" not in reply.all_text()


def test_a_patch_that_did_not_land_and_answered_5xx_is_sent_once_and_told_not_applied(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=503, method="PATCH", times=None))
    reply = bot.command("update acme/app-db bp01prod12h retention=30d")
    assert len(planetscale.calls("PATCH")) == 1
    [request] = bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED
    assert "does not hold the change" in reply.all_text()
