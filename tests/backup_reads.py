"""Changes asked while a database's backups could not be read: the setups the storage-bound suites share."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from approval_helpers import request_message, sweep
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent


def moved_clock(bot: Bot) -> list[float]:
    """The bot's changes and store read the time from `now[0]`, which the test moves."""
    now = [time.time()]
    bot.deps.changes.clock = lambda: now[0]
    bot.deps.store.clock = lambda: now[0]
    return now


def one_asked_unreadable(bot: Bot, planetscale: PlanetScaleState) -> tuple[SlackEvent, Fault]:
    """acme/one's production policy (a 1 GB backup 3 hours ago) asked to keep 14 days while its branches' backups
    cannot be read: the request's message, and the fault that keeps them unreadable until the test removes it."""
    planetscale.add_database("acme", "one")
    planetscale.add_policy("acme", "one", "one-prod", name="Production daily", target="production")
    planetscale.add_backup("acme", "one", "one-prod", hours_ago=3, size=1_000_000_000)
    fault = planetscale.add_fault(Fault(status=500, method="GET", path_contains="/databases/one/branches/",
                                        times=None))
    bot.command('update acme/one "Production daily" retention=14d')
    return request_message(bot), fault


def st_asked_unreadable(bot: Bot, planetscale: PlanetScaleState,
                        unreadable: str = "/databases/st-02/branches") -> tuple[SlackEvent, Fault]:
    """acme/st-01 and st-02's production policies (a 1 GB backup 3 hours ago each) asked in bulk to keep 14 days
    while GETs whose path holds `unreadable` fail: the bulk message, and the fault until the test removes it."""
    for name in ("st-01", "st-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
        planetscale.add_backup("acme", name, f"{name}-prod", hours_ago=3, size=1_000_000_000)
    fault = planetscale.add_fault(Fault(status=500, method="GET", path_contains=unreadable, times=None))
    bot.command('update acme/st-* "Production daily" retention=14d')
    return request_message(bot), fault


def swept_once_readable(bot: Bot, planetscale: PlanetScaleState, fault: Fault, now: list[float]) -> None:
    """The backups readable again, two minutes later the sweep runs."""
    planetscale.faults.remove(fault)
    now[0] += 120
    sweep(bot)


def closed_past(bot: Bot, now: list[float], seconds: float) -> None:
    """The clock `seconds` on, a sweep, and another two minutes later: the turn that closes a bulk change's
    policy still failing past its bound as failed."""
    now[0] += seconds
    sweep(bot)
    now[0] += 120
    sweep(bot)


class CostsWrittenAs(httpx.BaseTransport):
    """PlanetScale (the emulator) with every backup's `estimated_storage_cost` written as `value`: what its spec
    does not allow (text, objects, NaN, Infinity), which the emulator, judged by the spec, never sends."""

    def __init__(self, value: Any) -> None:
        self.inner, self.value = httpx.HTTPTransport(), value

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/backups") or response.status_code != 200:
            return response
        body = json.loads(response.read())
        for item in body["data"]:
            item["estimated_storage_cost"] = self.value
        return httpx.Response(200, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


PROD_OF_APP_DB = "bp01prod12h"
HELD_BACKUPS = 6000  # past the 5,000 items the bot reads of one list


def hourly_history(planetscale: PlanetScaleState, oldest_first: bool) -> dict[str, Any]:
    """HELD_BACKUPS successful backups of app-db's production daily policy on main, an hour apart, the newest an
    hour ago, listed oldest first when asked (PlanetScale's spec sets no order); returns the newest."""
    key = ("acme", "app-db", "main")
    with planetscale.lock:
        planetscale.backups[key] = [b for b in planetscale.backups[key]
                                    if b["backup_policy"]["id"] != PROD_OF_APP_DB]
        newest: dict[str, Any] = {}
        for hours in range(HELD_BACKUPS, 0, -1):
            newest = planetscale.add_backup("acme", "app-db", PROD_OF_APP_DB, hours_ago=hours)
        planetscale.policies[("acme", "app-db")][PROD_OF_APP_DB]["last_ran_at"] = newest["started_at"]
        planetscale.backups_oldest_first = oldest_first
    planetscale.clear_record()
    return newest


def history_reads(planetscale: PlanetScaleState) -> int:
    """The requests for pages of that policy's backups on main."""
    return len([c for c in planetscale.calls("GET") if c.path.endswith("/branches/main/backups")
                and c.query.get("policy") == PROD_OF_APP_DB])
