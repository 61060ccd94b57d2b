"""A creation (a deletion) PlanetScale answered 500 and carried out all the same, after the bot had read the
list, did not see it and closed it as not applied: the watch sees the policy appear (go). It is the bot's own
doing, recorded applied and told so, not posted as made outside the bot; one made by hand is still told."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from approval_helpers import ALICE, sweep
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from test_watch import just_now, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.planetscale_schedule import iso_time, utc_now
from bot.runtime.watch import Watcher

CREATE = 'create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00'
DEV = "bp03devday"  # development: deleted at once, with no approval
VALUES = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
          "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}


def failed_creation(bot: Bot, planetscale: PlanetScaleState, status: int, method: str = "POST") -> str:
    planetscale.add_fault(Fault(status=status, method=method))
    bot.command(CREATE if method == "POST" else f"delete acme/app-db {DEV}", user=ALICE)
    [request] = bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, request
    return request.id


def test_a_creation_closed_as_not_applied_whose_post_landed_later_is_the_bots_own(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    """Before: 'Created outside the bot' in the audit channel and on the trail (created_outside), the request
    left failed ('it was not applied') though its POST made the policy."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    rid = failed_creation(bot, planetscale, 500)
    made = planetscale.add_policy("acme", "app-db", None, **VALUES, created_at=just_now())
    posted = watch_pass(bot, watcher)
    assert [p.text for p in posted] == []
    assert not [e for e in bot.audit.all() if e.action == "created_outside"]
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.APPLIED and request.policy_id == made["id"]
    applied = [e for e in bot.audit.all() if e.action == "applied" and e.request_id == rid]
    assert len(applied) == 1 and "after the bot had closed" in (applied[0].detail or "")
    assert watch_pass(bot, watcher) == []
    told = len(bot.slack.events)
    sweep(bot)
    assert any(e.channel == "D0ALICE001" and "was applied" in e.text for e in bot.slack.events[told:]), \
        [(e.channel, e.text) for e in bot.slack.events[told:]]


@pytest.mark.parametrize(("status", "later"), [(500, timedelta(hours=2)), (422, timedelta(seconds=30))])
def test_a_policy_of_that_name_made_by_hand_is_still_told_as_made_outside(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, status: int, later: timedelta
) -> None:
    """Made by hand hours after a lost answer, or after PlanetScale refused the POST outright (nothing made):
    not the bot's."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    rid = failed_creation(bot, planetscale, status)
    planetscale.add_policy("acme", "app-db", None, **VALUES, created_at=iso_time(utc_now() + later))
    posted = watch_pass(bot, watcher)
    assert [p.text.split(":")[2].split(" the ")[0].strip() for p in posted] == ["Created outside"], posted
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.FAILED


def test_a_deletion_closed_as_not_applied_whose_delete_landed_later_is_the_bots_own(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    """Before: 'Deleted outside the bot' posted and recorded (deleted_outside), the request left failed."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    rid = failed_creation(bot, planetscale, 500, method="DELETE")
    planetscale.dashboard_delete("acme", "app-db", DEV)
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "deleted_outside"]
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.APPLIED
    told = len(bot.slack.events)
    sweep(bot)
    assert any(e.channel == "D0ALICE001" and "was applied" in e.text for e in bot.slack.events[told:]), \
        [(e.channel, e.text) for e in bot.slack.events[told:]]


@pytest.mark.parametrize(("status", "later"), [(500, 2 * 3600.0), (403, 0.0)])
def test_a_policy_deleted_by_hand_is_still_told_as_deleted_outside(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, status: int, later: float
) -> None:
    """Gone only when the watch reads hours after a lost answer, or after PlanetScale refused the DELETE."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    rid = failed_creation(bot, planetscale, status, method="DELETE")
    planetscale.dashboard_delete("acme", "app-db", DEV)
    watcher.watch.clock = lambda: time.time() + later
    posted = watch_pass(bot, watcher)
    assert [p.text.split(":")[2].split(" the ")[0].strip() for p in posted] == ["Deleted outside"], posted
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.FAILED


def test_a_change_closed_as_not_applied_whose_patch_landed_later_is_the_bots_own(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    """Before: 'Changed outside the bot' posted and recorded (changed_outside), with a Revert of the bot's own
    change, the request left failed."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.add_fault(Fault(status=500, method="PATCH"))
    bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    [request] = bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED, request
    planetscale.dashboard_change("acme", "app-db", DEV, retention_value=9, retention_unit="day")
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "changed_outside"]
    latest = bot.deps.store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPLIED


@pytest.mark.parametrize(("retention", "later"), [(10, timedelta(0)), (9, timedelta(hours=2))])
def test_a_policy_changed_by_hand_is_still_told_as_changed_outside(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, retention: int, later: timedelta
) -> None:
    """Changed by hand to other values, or to the same hours after the PATCH failed."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.add_fault(Fault(status=500, method="PATCH"))
    bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    planetscale.dashboard_change("acme", "app-db", DEV, retention_value=retention, retention_unit="day")
    planetscale.policies[("acme", "app-db")][DEV]["updated_at"] = iso_time(utc_now() + later)
    posted = watch_pass(bot, watcher)
    assert [p.text.split(":")[2].split(" the ")[0].strip() for p in posted] == ["Changed outside"], posted
    [request] = bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED


@pytest.mark.parametrize("other", [{"retention_value": 1}, {"schedule_time": "05:00"},
                                   {"frequency_value": 12, "frequency_unit": "hour"}])
def test_a_policy_of_that_name_made_by_hand_at_once_with_other_settings_is_still_told_as_made_outside(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, other: dict[str, object]
) -> None:
    """Made by hand right after a lost answer, of the same name and target but not as the bot asked it (the
    POST made nothing): not the bot's. Before: adopted quietly as the bot's creation (no 'Created outside'
    notice, none of its guardrails told), the request recorded applied with values nobody approved."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    rid = failed_creation(bot, planetscale, 500)  # answered 500, nothing made
    made = planetscale.add_policy("acme", "app-db", None, **{**VALUES, **other}, created_at=just_now())
    posted = watch_pass(bot, watcher)
    assert [p.text.split(":")[2].split(" the ")[0].strip() for p in posted] == ["Created outside"], posted
    assert [e.policy_id for e in bot.audit.all() if e.action == "created_outside"] == [made["id"]]
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.FAILED
