"""The watch on SQLite and PostgreSQL: changes made outside the bot posted once with a Revert that goes through
approval, never the bot's own changes nor the baseline; failing backups posted once and their recovery once;
PlanetScale failing or rate limiting leaves its state as it was and posts nothing."""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, PROD, request_id
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from bulk_helpers import button
from conftest import Bot
from watch_helpers import AUDIT
from watch_helpers import watched as watched  # the fixture

from bot.adapters.planetscale import RetryPolicy
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.watch_share import WatchShare
from bot.emulators.planetscale_state import ALL_ACCESSES, DEMO_TOKEN_ID, Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent
from bot.runtime.watch import Watcher, build_watcher
from handlers.blocks import APPROVE
from handlers.watch import REVERT_OUTSIDE


def watch_pass(bot: Bot, watcher: Watcher) -> list[SlackEvent]:
    """One pass; the watch's messages posted meanwhile."""
    _, cursor = bot.slack.events_since(0)
    watcher.run_once()
    events, _ = bot.slack.events_since(cursor)
    return [e for e in events if e.kind == "message" and e.text.startswith(WATCH_HEADLINES)]


WATCH_HEADLINES = (":eyes: Changed outside the bot", ":rotating_light: Backups in trouble",
                   ":white_check_mark: Backups healthy again", ":new: Created outside the bot",
                   ":wastebasket: Deleted outside the bot")


def just_now() -> str:
    """A policy's created_at for one made now (one made long ago with no backup yet is stale)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_change_outside_the_bot_is_posted_once_and_reverted_through_an_approval(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []  # the baseline is quiet
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    [posted] = watch_pass(bot, watcher)
    assert posted.channel == AUDIT and "Changed outside the bot" in posted.text
    shown = str(posted.blocks)
    assert "2 days" in shown and "1 day" in shown and "Breaks:" not in shown
    assert watch_pass(bot, watcher) == []  # once
    [entry] = [e for e in bot.audit.all() if e.action == "changed_outside"]
    assert entry.before is not None and entry.before["retention_value"] == 2
    assert entry.after is not None and entry.after["retention_value"] == 1
    assert entry.detail == "changed outside the bot"

    reverted = bot.click(REVERT_OUTSIDE, button(posted, REVERT_OUTSIDE), user=ALICE, channel=AUDIT, message=posted)
    [request] = reverted.public
    assert "asks to change" in request.text
    assert planetscale.calls("PATCH") == []
    bot.click(APPROVE, request_id(request), user=CAROL, channel=AUDIT, message=request)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 2
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 2}]
    assert watch_pass(bot, watcher) == []  # the revert is the bot's own change


@pytest.mark.parametrize("kind", ["changed_outside", "created_outside", "deleted_outside", "backup_unhealthy"])
def test_what_the_watch_finds_is_saved_with_its_audit_entry_or_not_at_all(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch,
        kind: str) -> None:
    """The database fails as the audit entry is written: the notice and the new state go with it (the pass skips
    that policy), so the next pass finds the same thing again and tells it once, with its entry (none is lost,
    none is doubled)."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    if kind == "changed_outside":
        planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    elif kind == "created_outside":
        with planetscale.lock:
            planetscale.add_policy("acme", "app-db", "bpnewoutside", name="Made in the dashboard",
                                   created_at=just_now())
    elif kind == "deleted_outside":
        planetscale.dashboard_delete("acme", "app-db", PROD)
    else:
        planetscale.fail_backup("acme", "app-db", PROD)
    store = bot.deps.store
    insert_event = store._insert_event
    failed: list[str] = []

    def failing_once(conn: Any, event: Any) -> Any:
        if event is not None and event.action == kind and not failed:
            failed.append(kind)
            raise sa.exc.OperationalError("INSERT INTO audit_events", {}, Exception("the database went away"))
        return insert_event(conn, event)

    monkeypatch.setattr(store, "_insert_event", failing_once)
    assert watch_pass(bot, watcher) == []  # skipped (and said so), the rest of the pass carried on
    assert failed and not [e for e in bot.audit.all() if e.action == kind]
    [posted] = watch_pass(bot, watcher)
    assert [e.action for e in bot.audit.all() if e.action == kind] == [kind]
    assert watch_pass(bot, watcher) == [] and posted.channel == AUDIT


def test_the_bots_own_changes_are_never_drift(watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    bot.command("update acme/app-db bp03devday retention=5d frequency=12h", user=ALICE)  # no approval needed
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 5
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "changed_outside"]
    # A change outside the bot to another field of the same policy is still seen, and only that field.
    planetscale.dashboard_change("acme", "app-db", "bp03devday", schedule_time="06:00")
    [posted] = watch_pass(bot, watcher)
    [entry] = [e for e in bot.audit.all() if e.action == "changed_outside"]
    assert entry.sent == {"schedule_time": "06:00"}
    assert "06:00" in str(posted.blocks)


def test_each_pass_says_in_the_log_what_it_read_and_found(watched: tuple[Bot, Watcher], planetscale: PlanetScaleState,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """An operator (and the soak) sees the watch at work, not only when a pass fails."""
    _, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", "bp03devday", schedule_time="06:00")
    caplog.clear()  # the first pass's line too, where an earlier test left its logger at INFO
    with caplog.at_level(logging.INFO, logger="bot.runtime.watch"):
        watcher.run_once()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("watch pass:")]
    assert re.fullmatch(r"watch pass: [1-9]\d* database\(s\) read, 0 not answered, \d+ left for the next pass; "
                        r"\d+ policies' backups read; 1 finding\(s\), 0 skipped", line), line


def test_a_change_applied_while_the_watch_reads_is_not_drift(watched: tuple[Bot, Watcher],
                                                             planetscale: PlanetScaleState) -> None:
    """The race: PlanetScale already holds the bot's change while its request is still applying (the PATCH has
    landed, its answer is on its way), then the request is applied."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    store = bot.deps.store
    before = planetscale.policy("acme", "app-db", "bp03devday")
    request = store.add_request(ChangeRequest(
        organization="acme", database="app-db", policy_id="bp03devday", policy_name=before["name"],
        requester=ALICE, channel=AUDIT, before=before, changes={"retention_value": 6}, approvals_needed=0,
        approvers=[], expires_at=time.time() + 3600, state=RequestState.APPLYING))
    after = planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=6)
    assert watch_pass(bot, watcher) == []
    store.transition(request.id, [RequestState.APPLYING], RequestState.APPLIED, after=after)
    assert watch_pass(bot, watcher) == []
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "changed_outside"]


def test_a_guardrail_broken_outside_the_bot_is_named(watched: tuple[Bot, Watcher],
                                                     planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    bot.use_rules(GUARDED)
    watch_pass(bot, watcher)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    [posted] = watch_pass(bot, watcher)
    shown = str(posted.blocks)
    assert "Breaks:" in shown and "guardrail 1" in shown and "at least 2 days" in shown
    [entry] = [e for e in bot.audit.all() if e.action == "changed_outside"]
    assert entry.detail is not None and "breaks guardrail 1" in entry.detail


def test_a_policy_deleted_outside_the_bot_is_posted_once(watched: tuple[Bot, Watcher],
                                                          planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.dashboard_delete("acme", "app-db", PROD)
    [posted] = watch_pass(bot, watcher)
    assert posted.channel == AUDIT and "Deleted outside the bot" in posted.text and "Production daily" in posted.text
    assert "every 12 hours" in str(posted.blocks) and REVERT_OUTSIDE not in str(posted.blocks)
    assert watch_pass(bot, watcher) == []  # once
    [entry] = [e for e in bot.audit.all() if e.action == "deleted_outside"]
    assert entry.before is not None and entry.before["id"] == PROD and entry.after is None
    history = str([m.blocks for m in bot.command("history acme/app-db", user=ALICE).private])
    assert "someone outside the bot deleted Production daily" in history


def short_list(planetscale: PlanetScaleState, without: str) -> Fault:
    """PlanetScale answering the next list of app-db's policies without one of them, and without an error."""
    with planetscale.lock:
        others = [copy.deepcopy(p) for pid, p in planetscale.policies[("acme", "app-db")].items() if pid != without]
    short = {"type": "list", "current_page": 1, "next_page": None, "next_page_url": None, "prev_page": None,
             "prev_page_url": None, "data": others}
    return planetscale.add_fault(Fault(status=200, body=json.dumps(short), method="GET",
                                       path_contains="/databases/app-db/backup-policies", times=1))


def test_a_policy_missing_from_a_list_cut_short_is_not_told_as_deleted(watched: tuple[Bot, Watcher],
                                                                        planetscale: PlanetScaleState) -> None:
    """PlanetScale answers the list without one policy and without an error: asked by its ID, it is still there."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    short_list(planetscale, without=PROD)
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "deleted_outside"]
    assert [c for c in planetscale.calls("GET") if c.path.endswith(f"/backup-policies/{PROD}")], "not asked by ID"
    planetscale.dashboard_delete("acme", "app-db", PROD)  # and once it is really gone, it is told
    [posted] = watch_pass(bot, watcher)
    assert "Deleted outside the bot" in posted.text and "Production daily" in posted.text


def test_a_404_for_a_token_that_lost_access_to_the_database_is_not_told_as_deleted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """A service token that may no longer read a database's backups is answered 404 for them (not 403): a list cut
    short, read just before the token lost that access, and the GET by ID after it, prove no deletion."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    short_list(planetscale, without=PROD)
    with planetscale.lock:  # the token keeps seeing app-db, but no longer its backups
        planetscale.tokens[DEMO_TOKEN_ID].accesses["acme"] = {"billing-db": set(ALL_ACCESSES),
                                                              "app-db": {"read_database"}}
    assert watch_pass(bot, watcher) == []
    assert [c for c in planetscale.calls("GET") if c.path.endswith(f"/backup-policies/{PROD}")], "not asked by ID"
    assert not [e for e in bot.audit.all() if e.action == "deleted_outside"]
    with planetscale.lock:  # access back, and the policy really gone: told
        planetscale.tokens[DEMO_TOKEN_ID].accesses["acme"] = {"*": set(ALL_ACCESSES)}
    planetscale.dashboard_delete("acme", "app-db", PROD)
    [posted] = watch_pass(bot, watcher)
    assert "Deleted outside the bot" in posted.text and "Production daily" in posted.text


def test_a_deletion_planetscale_cannot_confirm_waits_for_the_next_pass(watched: tuple[Bot, Watcher],
                                                                       planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.dashboard_delete("acme", "app-db", PROD)
    failing = planetscale.add_fault(Fault(status=503, method="GET", path_contains=f"/backup-policies/{PROD}",
                                          times=None))
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "deleted_outside"]
    with planetscale.lock:
        planetscale.faults.remove(failing)
    [posted] = watch_pass(bot, watcher)
    assert "Deleted outside the bot" in posted.text
    assert watch_pass(bot, watcher) == []  # once


def test_a_deletion_rate_limited_when_confirmed_stops_the_asking_until_the_next_pass(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """Every policy of a database deleted, and PlanetScale answering 429 to the GETs that would confirm it: the
    watch stops asking at the first one still refused after its retries, rather than spend the rate limit it shares
    with people's commands on the others."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    with planetscale.lock:
        gone = list(planetscale.policies[("acme", "app-db")])
        planetscale.policies[("acme", "app-db")].clear()
    limited = planetscale.add_fault(Fault(status=429, retry_after="0", method="GET",
                                          path_contains="/databases/app-db/backup-policies/", times=None))
    assert watch_pass(bot, watcher) == []
    asked = [c for c in planetscale.calls("GET") if "/databases/app-db/backup-policies/" in c.path]
    assert len(asked) == RetryPolicy().attempts  # one policy's GET, retried
    with planetscale.lock:
        planetscale.faults.remove(limited)
    posted = watch_pass(bot, watcher)
    assert sorted(p.text.count("Deleted outside the bot") for p in posted) == [1] * len(gone)
    assert sorted(e.policy_id for e in bot.audit.all() if e.action == "deleted_outside") == sorted(gone)
    assert watch_pass(bot, watcher) == []


def test_a_pass_stopped_part_way_is_resumed_where_it_stopped_on_another_instance(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """The cursor is in the database: the next pass, on whichever instance holds the watch, reads the databases the
    stopped one did not reach, and none it had read, before a new cycle begins."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    [billing] = list(planetscale.policies[("acme", "billing-db")])[:1]
    planetscale.dashboard_change("acme", "billing-db", billing, retention_value=9)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=9)
    stopped = watcher.watch.run_pass(watcher.holder, watcher.lease_seconds, after_each=watcher.watch.share.stop)
    assert stopped.read == ["acme/app-db"] and stopped.deferred == ["acme/billing-db"]
    watcher.store.release_watch_lease(watcher.holder)  # its process ends
    other = build_watcher(bot.deps, bot.app.client, every=1)
    planetscale.clear_record()
    resumed = other.run_once()
    assert resumed is not None and resumed.read == ["acme/billing-db"] and not resumed.whole_cycle
    assert all("/app-db/" not in c.path for c in planetscale.calls())
    changed = sorted(e.policy_id for e in bot.audit.all() if e.action == "changed_outside")
    assert changed == sorted([billing, "bp03devday"])
    again = other.run_once()
    assert again is not None and again.read == ["acme/app-db", "acme/billing-db"] and again.whole_cycle
    other.stop()


def test_a_policy_created_outside_the_bot_is_posted_once_with_the_guardrails_it_breaks(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    bot.use_rules(GUARDED)
    watch_pass(bot, watcher)
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpnewoutside", name="Made in the dashboard", retention_value=1,
                               created_at=just_now())
    [posted] = watch_pass(bot, watcher)
    assert "Created outside the bot" in posted.text and "Made in the dashboard" in posted.text
    shown = str(posted.blocks)
    assert "Breaks:" in shown and "guardrail 1" in shown
    assert watch_pass(bot, watcher) == []  # once
    [entry] = [e for e in bot.audit.all() if e.action == "created_outside"]
    assert entry.after is not None and entry.after["id"] == "bpnewoutside"


def test_a_database_watched_for_the_first_time_is_a_quiet_baseline_even_when_policies_come_and_go_after(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpbefore001", name="There before the bot", created_at=just_now())
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action in ("created_outside", "deleted_outside")]


def test_the_first_policy_of_a_database_first_read_without_any_is_posted_as_created(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")].clear()
    assert watch_pass(bot, watcher) == []  # the baseline: read, and nothing in it
    assert watch_pass(bot, watcher) == []
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpfirst0001", name="The first one", created_at=just_now())
    [posted] = watch_pass(bot, watcher)
    assert "Created outside the bot" in posted.text and "The first one" in posted.text
    assert not [e for e in bot.audit.all() if e.action == "deleted_outside"]


def test_a_first_read_answered_with_an_empty_list_reports_nothing_as_created(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """PlanetScale answers the first list of a database without its policies, and without an error (a list cut
    short, as above): the policies the next read shows were made before the bot first read the database, which
    their creation time says, so they are not told as created outside the bot. One made after it still is."""
    bot, watcher = watched
    empty = {"type": "list", "current_page": 1, "next_page": None, "next_page_url": None, "prev_page": None,
             "prev_page_url": None, "data": []}
    planetscale.add_fault(Fault(status=200, body=json.dumps(empty), method="GET",
                                path_contains="/databases/app-db/backup-policies", times=1))
    assert watch_pass(bot, watcher) == []
    assert watch_pass(bot, watcher) == []
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action == "created_outside"]
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpnewoutside", name="Made in the dashboard", created_at=just_now())
    [posted] = watch_pass(bot, watcher)
    assert "Created outside the bot" in posted.text and "Made in the dashboard" in posted.text


def test_a_baseline_cut_short_by_the_database_reports_nothing_as_created(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """The first read of a database fails part way through saving what it read (the database connection drops):
    the policies it had not saved yet were there before the bot, and are not reported as created."""
    bot, watcher = watched
    inserts = []

    def fail_the_second_policy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO WATCH_SEEN"):
            inserts.append(statement)
            if len(inserts) == 2:
                raise sa.exc.OperationalError(statement, {}, Exception("server closed the connection"))

    engine = bot.deps.store.engine
    sa.event.listen(engine, "before_cursor_execute", fail_the_second_policy)
    try:
        result = watcher.run_once()
        assert result is not None and [s.what for s in result.skipped] == ["acme/app-db"]
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail_the_second_policy)
    assert watch_pass(bot, watcher) == []
    assert watch_pass(bot, watcher) == []
    assert not [e for e in bot.audit.all() if e.action in ("created_outside", "deleted_outside")]
    # The baseline it then took holds: a policy created after it is reported.
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpnewoutside", name="Made in the dashboard", created_at=just_now())
    [posted] = watch_pass(bot, watcher)
    assert "Created outside the bot" in posted.text and "Made in the dashboard" in posted.text


GUARDED = """
[[rules]]
organizations = ["acme"]
databases = ["app-*"]
targets = ["production"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 1
channels = ["C0DBAOPS01"]

[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_retention = "2d"
"""


def test_planetscale_failing_keeps_the_state_and_posts_nothing(watched: tuple[Bot, Watcher],
                                                               planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=3)
    planetscale.add_fault(Fault(status=429, retry_after="0", times=None, path_contains="app-db"))
    for _ in range(3):
        assert watch_pass(bot, watcher) == []
    planetscale.clear_record()
    planetscale.add_fault(Fault(status=503, times=None))
    assert watch_pass(bot, watcher) == []
    planetscale.clear_record()
    [posted] = watch_pass(bot, watcher)  # seen once PlanetScale answers, against the state kept
    assert "Changed outside the bot" in posted.text
    assert watch_pass(bot, watcher) == []


def test_slack_failing_keeps_the_notice_until_it_is_posted(watched: tuple[Bot, Watcher],
                                                           planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=3)
    bot.deps.audit_channel = "C0NOSUCH01"  # Slack answers channel_not_found
    assert watch_pass(bot, watcher) == []
    bot.deps.audit_channel = AUDIT
    [posted] = watch_pass(bot, watcher)
    assert "Changed outside the bot" in posted.text
    assert watch_pass(bot, watcher) == []


def test_a_failing_backup_is_posted_once_and_its_recovery_once(watched: tuple[Bot, Watcher],
                                                                planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []  # all healthy
    planetscale.fail_backup("acme", "app-db", PROD)
    [posted] = watch_pass(bot, watcher)
    assert "Backups in trouble" in posted.text and "the last backup failed" in str(posted.blocks)
    assert watch_pass(bot, watcher) == []
    assert watch_pass(bot, watcher) == []
    with planetscale.lock:
        planetscale.add_backup("acme", "app-db", PROD, state="success")
    [recovered] = watch_pass(bot, watcher)
    assert "healthy again" in recovered.text
    assert watch_pass(bot, watcher) == []
    actions = [e.action for e in bot.audit.all() if e.action.startswith("backup_")]
    assert actions == ["backup_unhealthy", "backup_recovered"]


def test_one_watcher_at_a_time(watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    other = build_watcher(bot.deps, bot.app.client, every=1)
    assert watcher.run_once() is not None
    assert other.run_once() is None
    watcher.stop()  # a clean stop hands the watch over at once
    assert other.run_once() is not None


def test_a_change_outside_the_bot_back_to_an_earlier_bot_value_is_drift(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """Only the bot's newest change to a field explains its value: undoing the latest one in the dashboard is seen."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    bot.command("update acme/app-db bp03devday retention=5d frequency=12h", user=ALICE)
    bot.command("update acme/app-db bp03devday retention=6d", user=ALICE)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    [posted] = watch_pass(bot, watcher)
    [entry] = [e for e in bot.audit.all() if e.action == "changed_outside"]
    assert entry.sent == {"retention_value": 5}
    assert "Changed outside the bot" in posted.text


class FakeTime:
    """A clock that moves only when the watch waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_watch_waits_for_its_share_and_sends_no_request_twice(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """Five requests a minute: a pass of nine waits for its turns (PlanetScale, counting over any minute, never
    answers 429) and reads every database once: no call begun is given up and sent again."""
    _, watcher = watched
    time_ = FakeTime()
    planetscale.clock, planetscale.rate_limit = time_.clock, (5, 60.0)
    watcher.watch.share = share = WatchShare(5, clock=time_.clock, sleep=time_.sleep)
    planetscale.clear_record()
    result = watcher.run_once()
    assert result is not None and result.read == ["acme/app-db", "acme/billing-db"] and result.whole_cycle
    sent = [(c.path, tuple(sorted(c.query.items()))) for c in planetscale.calls()]
    assert len(sent) == len(set(sent)) == share.taken > 5
    assert planetscale.rate_limited == 0
    assert time_.now - 1000.0 >= (len(sent) - share.burst) / share.rate - 1e-6  # it waited for them


def test_a_change_is_seen_at_the_next_cycle_however_small_the_share(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    time_ = FakeTime()
    watcher.watch.share = WatchShare(3, clock=time_.clock, sleep=time_.sleep)
    watcher.run_once()
    [billing] = list(planetscale.policies[("acme", "billing-db")])[:1]
    planetscale.dashboard_change("acme", "billing-db", billing, retention_value=9)
    result = watcher.run_once()
    assert result is not None and result.read == ["acme/app-db", "acme/billing-db"]
    assert [e.policy_id for e in bot.audit.all() if e.action == "changed_outside"] == [billing]


def test_backups_are_read_only_where_one_is_due(watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)  # the first read: every policy's backups
    planetscale.clear_record()
    assert watch_pass(bot, watcher) == []
    assert sorted(c.path for c in planetscale.calls()) == [  # the lists alone
        "/organizations/acme/databases", "/organizations/acme/databases/app-db/backup-policies",
        "/organizations/acme/databases/billing-db/backup-policies"]
    planetscale.fail_backup("acme", "app-db", "bp03devday")  # a backup ran: PlanetScale's last_ran_at moves
    planetscale.clear_record()
    posted = watch_pass(bot, watcher)
    assert [c.query["policy"] for c in planetscale.calls() if c.path.endswith("/backups")] == ["bp03devday"]
    assert [p.text.split(":")[2].strip() for p in posted] == ["Backups in trouble"]
    later = datetime.now(UTC) + timedelta(hours=13)  # past the next run of the 12-hourly policies
    watcher.watch.now = lambda: later
    planetscale.clear_record()
    watch_pass(bot, watcher)
    read = {c.query["policy"] for c in planetscale.calls() if c.path.endswith("/backups")}
    assert {"bp01prod12h", "bp04billing"} <= read


def test_a_revert_button_the_watch_never_posted_is_refused_and_recorded(watched: tuple[Bot, Watcher]) -> None:
    bot, _ = watched
    reply = bot.click(REVERT_OUTSIDE, "no-such-notice", user=ALICE, channel=AUDIT)
    assert "not one the watch recorded" in reply.all_text()
    [entry] = [e for e in bot.audit.all() if e.action == "refused"]
    assert entry.actor == ALICE and entry.detail == "Revert on no-such-notice, which this bot does not know"


def test_reverting_a_move_to_weekly_made_outside_the_bot_asks_daily_again(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """Issue 19 item 8: the revert is daily again, not a null day PlanetScale would refuse."""
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []
    planetscale.dashboard_change("acme", "app-db", "bp03devday", frequency_unit="week", schedule_day=3)
    [posted] = watch_pass(bot, watcher)
    reverted = bot.click(REVERT_OUTSIDE, button(posted, REVERT_OUTSIDE), user=ALICE, channel=AUDIT, message=posted)
    assert "Something went wrong" not in reverted.all_text()
    policy = planetscale.policy("acme", "app-db", "bp03devday")
    assert (policy["frequency_unit"], policy["schedule_day"]) == ("day", None)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"frequency_unit": "day"}]
