"""The watch knows the bot's own creations and deletions from those made elsewhere, on SQLite and PostgreSQL:
its own are kept quietly (one being applied as the watch reads is judged at the next pass), the others posted."""

from __future__ import annotations

import time

from approval_helpers import ALICE, CAROL, request_id
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from test_watch import just_now, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.domain.change_requests import ChangeKind, ChangeRequest, RequestState
from bot.emulators.planetscale import PlanetScaleState
from bot.runtime.watch import Watcher
from handlers.blocks import APPROVE


def test_the_bots_own_creations_and_deletions_are_not_posted_and_those_made_elsewhere_are(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    bot.command('create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00', user=ALICE)
    bot.command("delete acme/app-db bp02prodwk", user=ALICE)
    message = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
               and e.channel in bot.slack.channels and "asks to delete" in e.text][-1]
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "bp02prodwk" not in planetscale.policies[("acme", "app-db")]
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action in ("created_outside", "deleted_outside")]
    planetscale.add_policy("acme", "app-db", "bpoutside01", name="Made in the dashboard", created_at=just_now())
    planetscale.dashboard_delete("acme", "app-db", "bp03devday")
    posted = sorted(p.text.split(":")[2].split(" in ")[0] for p in watch_pass(bot, watcher))
    assert [p.strip() for p in posted] == ["Created outside the bot", "Deleted outside the bot"]
    assert watch_pass(bot, watcher) == []


def test_a_creation_being_applied_as_the_watch_reads_is_judged_at_the_next_pass(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    """The POST landed and the request is still applying (its policy's ID not recorded yet): not told as made
    elsewhere, then or once it is applied."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    store = bot.deps.store
    now = time.time()
    values = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
              "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}
    before = {**values, "id": "", "display_name": "Backup policy Nightly", "schedule_day": None,
              "schedule_week": None, "created_at": "", "updated_at": "", "last_ran_at": None, "next_run_at": None,
              "required": False}
    request = store.add_request(ChangeRequest(
        organization="acme", database="app-db", policy_id="", policy_name="Nightly", requester=ALICE,
        channel="C0DBAOPS01", before=before, changes=values, approvals_needed=0, approvers=[], expires_at=now + 3600,
        state=RequestState.APPLYING, kind=ChangeKind.CREATE, lease_until=now + 600))
    made = planetscale.add_policy("acme", "app-db", None, **values, created_at=just_now())
    assert watch_pass(bot, watcher) == []
    store.transition(request.id, [RequestState.APPLYING], RequestState.APPLIED, policy_id=made["id"], after=made)
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "created_outside"]
