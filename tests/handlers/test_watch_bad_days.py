"""The watch on a bad day: whatever one policy or one database holds, a pass carries on past it, posts what it
found elsewhere, and says what it skipped and why (the log, /healthz and the audit channel once)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from approval_helpers import PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import development_branches, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.rate_limit import parse_rate
from bot.domain.watch_share import WatchShare
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher, build_watcher, watch_share
from handlers.watch import SKIPPED_HEADLINE


def just_now() -> str:
    from datetime import UTC, datetime
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("name", ["N" * 300, "before\x00after", "\ufffeclaims to be escaped"])
def test_a_policy_of_any_name_is_told_and_the_databases_after_it_are_read(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, name: str) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpoddname", name=name, created_at=just_now())
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert sorted(p.split(":")[1] for p in posted) == ["eyes", "new"], posted
    [created] = [e for e in bot.audit.all() if e.action == "created_outside"]
    assert created.policy_name == name and created.after is not None and created.after["name"] == name
    # Its name is read back as it was: the next pass sees nothing new, and a change to it is drift.
    assert watch_pass(bot, watcher) == []
    planetscale.dashboard_change("acme", "app-db", "bpoddname", retention_value=5)
    [drift] = watch_pass(bot, watcher)
    assert drift.startswith(":eyes:")


def test_a_policy_whose_id_is_very_long_is_watched_like_any_other(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    long_id = "bp" + "x" * 3000
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", long_id, name="Long", created_at=just_now())
    watch_pass(bot, watcher)
    assert long_id in bot.deps.store.seen_policies("acme", "app-db")[0]
    planetscale.dashboard_change("acme", "app-db", long_id, retention_value=5)
    [drift] = watch_pass(bot, watcher)
    assert drift.startswith(":eyes:")


def test_a_backup_with_a_malformed_time_stops_neither_its_database_nor_the_pass(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    broken = {"id": "bkbroken", "state": "failed", "size": 0, "created_at": "yesterday-ish",
              "started_at": "not a time", "completed_at": "2026-13-45T99:99:99Z", "expires_at": None}
    planetscale.add_fault(Fault(status=200, body=json.dumps({"type": "list", "current_page": 1, "next_page": None,
                                                             "prev_page": None, "data": [broken]}),
                                times=None, path_contains="/branches/main/backups"))
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    posted = watch_pass(bot, watcher)
    assert [p.split(":")[1] for p in posted if p != SKIPPED_HEADLINE] == ["eyes", "eyes"], posted
    # Not a passing outage: the backups that could not be read are told (rev20k).
    assert posted.count(SKIPPED_HEADLINE) == 1
    [message] = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    assert "db backups" in json.dumps(message.blocks) and "backup list this bot" in json.dumps(message.blocks)


def refusing_to_save(store: Any, refused: str) -> Callable[..., bool]:
    """The store's save_seen, refusing the policy `refused` as PostgreSQL refuses a value its column cannot hold."""
    save_seen = store.save_seen

    def refusing(holder: str, organization: str, database: str, policy_id: str, *args: Any, **kw: Any) -> bool:
        if policy_id == refused:
            raise sa.exc.DataError("INSERT INTO watch_seen", {}, Exception("value too long"))
        return save_seen(holder, organization, database, policy_id, *args, **kw)

    return refusing


def test_one_policy_that_cannot_be_saved_is_skipped_said_once_and_the_rest_posted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    store = bot.deps.store
    save_seen = store.save_seen
    refusing = refusing_to_save(store, PROD)
    monkeypatch.setattr(store, "save_seen", refusing)
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=1)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert sorted(posted)[0].startswith(":eyes:") and sum(p.startswith(":eyes:") for p in posted) == 2
    assert posted.count(SKIPPED_HEADLINE) == 1
    [message] = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    assert f"acme/app-db policy {PROD}" in json.dumps(message.blocks) and "DataError" in json.dumps(message.blocks)
    assert f"the watch skipped acme/app-db policy {PROD}" in caplog.text
    report = health_report(bot.deps, watcher)
    assert report["status"] == "ok" and any(PROD in s for s in report["watch_skipped"])
    assert watch_pass(bot, watcher) == []  # still skipped: not told again
    monkeypatch.setattr(store, "save_seen", save_seen)
    [drift] = watch_pass(bot, watcher)  # fixed: the drift is told, and nothing is skipped any more
    assert drift.startswith(":eyes:") and "watch_skipped" not in health_report(bot.deps, watcher)


@pytest.mark.parametrize("name", ["L" * 300, "nul\x00inside"])
def test_a_policy_named_anything_by_planetscale_can_be_changed_and_audited(
        approvals_bot: Bot, planetscale: PlanetScaleState, name: str) -> None:
    """PlanetScale's spec sets no bound on a name: what it returns is stored as it is, every write about it too."""
    planetscale.dashboard_change("acme", "app-db", "bp03devday", name=name)
    reply = approvals_bot.command("update acme/app-db bp03devday retention=5d")
    assert "Something went wrong" not in json.dumps([e.text for e in reply.events])
    assert planetscale.policy("acme", "app-db", "bp03devday")["retention_value"] == 5
    [applied] = [e for e in approvals_bot.audit.all() if e.action == "applied"]
    assert applied.policy_name == name


def test_a_name_a_person_types_past_the_doors_bound_is_refused_and_nothing_is_sent(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = approvals_bot.command(f'update acme/app-db bp03devday name="{"x" * 256}"')
    assert "1 to 255 characters" in json.dumps([e.text for e in reply.events] + [str(reply.ack)])
    assert planetscale.calls("PATCH") == []


def test_a_failing_production_branch_is_not_hidden_by_another_that_succeeds(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    with planetscale.lock:
        planetscale.add_branch("acme", "app-db", "main-eu", production=True)
        for hours_ago in (30, 18, 6):
            planetscale.add_backup("acme", "app-db", PROD, hours_ago=hours_ago, branch="main-eu")
    watch_pass(bot, watcher)
    with planetscale.lock:
        planetscale.add_backup("acme", "app-db", PROD, state="failed", hours_ago=0.5, branch="main-eu")
        planetscale.add_backup("acme", "app-db", PROD, hours_ago=0.1, branch="main")  # main still succeeds
    [posted] = watch_pass(bot, watcher)
    assert posted.startswith(":rotating_light:") and "Production daily" in posted
    [message] = [e for e in bot.slack.events if e.text == posted]
    assert "the last backup failed on main-eu" in json.dumps(message.blocks)
    said = json.dumps([e.blocks or e.text for e in bot.command("status acme/app-db").private])
    assert "failed on main-eu" in said


def test_a_database_with_a_hundred_development_branches_is_still_judged_and_says_what_it_left_out(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    development_branches(planetscale)
    watch_pass(bot, watcher)
    planetscale.fail_backup("acme", "app-db", "bp03devday")  # on `dev`, listed first
    posted = watch_pass(bot, watcher)
    assert any(p.startswith(":rotating_light:") and "Development daily" in p for p in posted), posted
    told = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    assert told and "branches are not read" in json.dumps(told[0].blocks)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_watch_share_counts_http_requests_retries_and_pages_included(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    _, watcher = watched
    time_ = FakeTime()
    planetscale.clock, planetscale.rate_limit = time_.clock, (5, 60.0)
    watcher.watch.share = share = WatchShare(5, clock=time_.clock, sleep=time_.sleep)
    planetscale.clear_record()
    planetscale.add_fault(Fault(status=503, times=None, path_contains="/backup-policies"))  # each call tried 4 times
    watcher.run_once()
    assert share.taken == len(planetscale.calls()) == 9  # the databases, then two policy lists sent four times each
    assert planetscale.rate_limited == 0  # never more than five in any minute


def test_the_watch_keeps_to_its_share_per_minute_however_often_it_runs(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    _, watcher = watched
    time_ = FakeTime()
    planetscale.clock, planetscale.rate_limit = time_.clock, (12, 60.0)
    watcher.watch.share = WatchShare(12, clock=time_.clock, sleep=time_.sleep)
    for _ in range(6):  # a pass every 10 seconds
        watcher.run_once()
        time_.now += 10
    assert len(planetscale.calls()) > 12 and planetscale.rate_limited == 0


def test_the_watch_takes_a_quarter_of_the_process_budget_and_commands_the_rest() -> None:
    client = PlanetScaleClient("id", "token", limiter=parse_rate("600/min"))
    share = watch_share(client)
    assert (share.requests, share.per) == (150, 60.0)
    assert watch_share(client, 0.1).requests == 60
    client.close()


def test_a_crashed_watcher_is_replaced_within_minutes_even_at_a_daily_interval(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(approvals_bot.deps.store, "clock", lambda: now[0])
    crashed = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=86400)
    other = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=86400)
    assert crashed.run_once() is not None  # it watches, then its process dies: no more heartbeats
    other.keep_lease()
    assert other.run_once() is None  # the lease is still the crashed one's
    now[0] += crashed.lease_seconds + 1
    assert crashed.lease_seconds <= 300
    planetscale.clear_record()
    other.keep_lease()  # its next heartbeat takes the watch over and watches at once
    assert planetscale.calls("GET") and crashed.run_once() is None


@pytest.mark.parametrize("sneaky", ["\u202e", "\u200b", "\u2066", "\ufeff"])
def test_an_invisible_character_in_a_typed_name_is_refused_at_the_door(
        approvals_bot: Bot, planetscale: PlanetScaleState, sneaky: str) -> None:
    reply = approvals_bot.command(f'update acme/app-db bp03devday name="Prod{sneaky}uction daily"')
    assert f"U+{ord(sneaky):04X}" in reply.all_text() and "invisible" in reply.all_text()
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("hidden", ["\u202e", "\x00", "\x1b", "\x7f"])
def test_an_invisible_or_control_character_in_a_name_planetscale_returns_is_shown_escaped(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, hidden: str) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", name=f"Dev{hidden}ylliad")
    [posted] = watch_pass(bot, watcher)
    [message] = [e for e in bot.slack.events if e.text == posted]
    assert hidden not in json.dumps(message.blocks, ensure_ascii=False) + posted
    assert f"\\u{ord(hidden):04x}" in posted
    listed = bot.command("list acme/app-db").all_text()
    assert hidden not in listed and f"\\u{ord(hidden):04x}" in listed


def test_a_policy_created_through_the_api_is_told_as_created_and_not_as_in_trouble(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, planetscale_server: Any) -> None:
    import httpx

    from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID

    bot, watcher = watched
    watch_pass(bot, watcher)
    made = httpx.post(f"{planetscale_server[1].url}/v1/organizations/acme/databases/app-db/backup-policies",
                      headers={"Authorization": f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"}, timeout=10,
                      json={"name": "Made by Terraform", "target": "production", "retention_value": 2,
                            "retention_unit": "day", "frequency_value": 12, "frequency_unit": "hour",
                            "schedule_time": "01:00"})
    assert made.status_code == 201
    from datetime import UTC, datetime
    assert abs(datetime.fromisoformat(made.json()["created_at"].replace("Z", "+00:00")).timestamp()
               - datetime.now(UTC).timestamp()) < 120
    posted = watch_pass(bot, watcher)
    assert [p.split(":")[1] for p in posted] == ["new"], posted


def test_the_bots_own_change_to_a_shorter_frequency_is_not_stale_before_the_new_schedule_ran(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    with planetscale.lock:
        for backups in planetscale.backups.values():
            backups[:] = [b for b in backups if b["backup_policy"]["id"] != "bp03devday"]
        planetscale.add_backup("acme", "app-db", "bp03devday", hours_ago=20)  # daily: fine
    assert watch_pass(bot, watcher) == []
    bot.command("update acme/app-db bp03devday frequency=6h")
    assert planetscale.policy("acme", "app-db", "bp03devday")["frequency_unit"] == "hour"
    assert watch_pass(bot, watcher) == []  # its first 6-hourly backup is not due yet


def test_a_policy_listed_twice_in_one_answer_is_told_once(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bptwice", name="Twice", created_at=just_now())
        listed = sorted(planetscale.policies[("acme", "app-db")].values(), key=lambda p: p["id"])
    twice = [*listed, planetscale.policy("acme", "app-db", "bptwice")]
    planetscale.add_fault(Fault(status=200, times=None, path_contains="app-db/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": twice})))
    posted = watch_pass(bot, watcher)
    assert [p.split(":")[1] for p in posted] == ["new"], posted
    assert [e.policy_id for e in bot.audit.all() if e.action == "created_outside"] == ["bptwice"]


def test_a_name_of_fifty_thousand_characters_is_posted_and_stops_no_other_notice(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bphuge", name="H" * 50_000, created_at=just_now())
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert sorted(p.split(":")[1] for p in posted) == ["eyes", "new"]
    assert bot.deps.store.unposted_notices() == []


def test_a_notice_slack_refuses_for_its_content_is_told_plainly_and_holds_up_no_other(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    from bot.emulators.slack import MethodFault

    bot, watcher = watched
    watch_pass(bot, watcher)
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    bot.slack.add_fault(MethodFault(method="chat.postMessage", error="invalid_blocks", times=1))
    posted = watch_pass(bot, watcher)
    assert any("could not be shown (invalid_blocks)" in p for p in posted) and len(posted) == 2, posted
    assert bot.deps.store.unposted_notices() == [] and watch_pass(bot, watcher) == []


def test_a_kept_notice_whose_state_cannot_be_read_is_told_plainly_and_holds_up_no_other(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    from bot.domain.watch_state import Notice, NoticeKind

    bot, watcher = watched
    watch_pass(bot, watcher)
    odd = Notice(NoticeKind.DRIFT, "acme", "app-db", "bp03devday", "Development daily", "changed outside the bot",
                 before={"retention_unit": "quarter"}, after={"retention_value": 1}, fields=("retention_value",))
    assert bot.deps.store.save_seen(watcher.holder, "acme", "app-db", "bp03devday",
                                    planetscale.policy("acme", "app-db", "bp03devday"), odd)
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert any("could not be shown (its state could not be read)" in p for p in posted), posted
    assert any(p.startswith(":eyes:") for p in posted) and bot.deps.store.unposted_notices() == []


def test_a_policy_whose_name_holds_a_lone_surrogate_is_told_and_read_back_as_it_was(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    assert watch_pass(bot, watcher) == []
    with planetscale.lock:
        listed = [dict(p) for p in planetscale.policies[("acme", "app-db")].values()]
    name = "half\ud800a pair"  # JSON allows "\ud800" alone; no UTF-8 can hold it
    odd = {**listed[0], "id": "bpsurrogate", "name": name, "created_at": just_now()}
    body = json.dumps({"type": "list", "current_page": 1, "next_page": None, "prev_page": None,
                       "data": [*listed, odd]})
    planetscale.add_fault(Fault(status=200, body=body, times=None, method="GET",
                                path_contains="/app-db/backup-policies"))
    [created] = watch_pass(bot, watcher)
    assert created.startswith(":new:") and watcher.skipped == []
    [record] = [e for e in bot.audit.all() if e.action == "created_outside"]
    assert record.policy_name == name
    assert watch_pass(bot, watcher) == []  # read back as it was: nothing new


def test_a_database_that_stops_answering_mid_pass_ends_the_pass_within_a_bound(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    import threading

    bot, watcher = watched
    if not bot.deps.store.url.startswith("postgresql"):
        pytest.skip("a table held by another session stands for a database that stops answering: PostgreSQL's")
    watch_pass(bot, watcher)
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    engine = sa.create_engine(bot.deps.store.url)
    finished = threading.Event()
    passing = threading.Thread(target=lambda: (watcher.run_once(), finished.set()), daemon=True)
    try:
        with engine.connect() as other:
            other.exec_driver_sql("LOCK TABLE watch_seen IN ACCESS EXCLUSIVE MODE")  # held until rolled back
            passing.start()
            ended = finished.wait(25)
            other.rollback()
        passing.join(60)
    finally:
        engine.dispose()
    assert ended, "the pass still waits on the database"


def test_a_notice_is_not_lost_when_slack_and_then_the_database_fail_while_it_is_posted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.emulators.slack import MethodFault

    bot, watcher = watched
    watch_pass(bot, watcher)
    store = bot.deps.store

    def unreachable(notice_id: str) -> None:
        raise sa.exc.OperationalError("UPDATE watch_notices", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store, "unclaim_watch_notice", unreachable)
    bot.slack.add_fault(MethodFault("chat.postMessage", status=500, times=None))
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    with contextlib.suppress(sa.exc.OperationalError):  # the pass met it; the timer runs the next one
        watcher.run_once()
    bot.slack.faults.clear()
    monkeypatch.undo()
    posted = watch_pass(bot, watcher)
    assert [p.split(":")[1] for p in posted] == ["eyes"], posted


def test_a_policy_never_backed_up_whose_creation_date_cannot_be_read_is_told_in_trouble(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpundated01", name="Undated", target="development",
                               created_at="yesterday", updated_at="yesterday")
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/app-db/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None,
         "data": list(planetscale.policies[("acme", "app-db")].values())})))
    watch_pass(bot, watcher)  # told as new: its creation cannot be dated
    watch_pass(bot, watcher)
    [trouble] = [e.text for e in bot.slack.events if e.kind == "message" and "Backups in trouble" in e.text]
    assert "app-db" in trouble
    said = json.dumps([e.blocks for e in bot.slack.events if e.text == trouble])
    assert "Undated" in said and "cannot be read" in said, said
