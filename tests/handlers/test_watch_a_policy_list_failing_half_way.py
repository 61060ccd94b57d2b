"""The watch over a policy list of two pages whose second page PlanetScale does not answer (connection refused, or
timing out) during a pass: no policy on it is told as deleted, nor any other as created, while the list is not
read whole; once PlanetScale answers again, what did change meanwhile is told once. Through Bolt, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot, ToTheEmulator, planetscale_client_over, unreachable
from watch_helpers import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.adapters.planetscale import PlanetScaleClient
from bot.emulators.planetscale_schedule import iso_time, utc_now
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.runtime.watch import Watcher

MANY = 150  # two pages of the 100 the bot asks for


class SecondPageDown(ToTheEmulator):
    """The emulator, except a policy list's second page once `how` is set: refused, or timing out."""

    def __init__(self) -> None:
        super().__init__()
        self.how: str | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.how and request.url.path.endswith("/backup-policies") and request.url.params.get("page") == "2":
            unreachable(self.how, request)
        return super().handle_request(request)


@pytest.fixture
def network() -> SecondPageDown:
    return SecondPageDown()


@pytest.fixture
def planetscale_client(planetscale_server: tuple[object, BackgroundServer], sleeps: list[float],
                       network: SecondPageDown) -> Iterator[PlanetScaleClient]:
    yield from planetscale_client_over(planetscale_server[1], sleeps, network)


@pytest.mark.parametrize("how", ["refused", "timeout"])
def test_policies_on_a_page_planetscale_did_not_answer_are_not_told_deleted_nor_others_created(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, network: SecondPageDown, how: str) -> None:
    bot, watcher = watched
    watcher.watch.share = 100_000  # the backups of 150 policies read in one pass, without a wait for the budget
    made = iso_time(utc_now())  # made now: none is stale for lack of backups, so no other notice is told
    with planetscale.lock:
        for n in range(MANY):
            planetscale.add_policy("acme", "app-db", f"bpmany{n:04d}", name=f"Many {n:04d}", created_at=made,
                                   updated_at=made)
    watch_pass(bot, watcher)  # the baseline, read whole
    with planetscale.lock:
        ordered = sorted(planetscale.policies[("acme", "app-db")].values(), key=lambda p: p["created_at"] + p["id"])
        on_first, on_second = ordered[10]["id"], ordered[120]["id"]
        planetscale.add_policy("acme", "app-db", "bpnewone01", name="Made by hand", created_at=made, updated_at=made)
    planetscale.dashboard_delete("acme", "app-db", on_first)
    planetscale.dashboard_delete("acme", "app-db", on_second)
    network.how = how
    posted = watch_pass(bot, watcher)
    assert not [p for p in posted if p.startswith((":wastebasket:", ":new:"))], posted
    network.how = None
    posted = watch_pass(bot, watcher)
    deleted = sorted(p for p in posted if p.startswith(":wastebasket:"))
    created = [p for p in posted if p.startswith(":new:")]
    names = {p["id"]: p["name"] for p in ordered}
    assert len(deleted) == 2 and all(any(names[i] in p for p in deleted) for i in (on_first, on_second)), posted
    assert len(created) == 1 and "Made by hand" in created[0], posted
    assert not [p for p in watch_pass(bot, watcher) if p.startswith((":wastebasket:", ":new:"))]
