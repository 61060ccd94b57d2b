"""`/backup-policy status <db>`: per policy, the last successful backup, failures in 7 days, the next run, and
stale or not; read after the ack, every page, on the branches of the policy's target."""

from __future__ import annotations

import json
from datetime import timedelta

from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.settings import Settings

PROD, WEEKLY, DEV = "bp01prod12h", "bp02prodwk", "bp03devday"


def shown(bot: Bot, text: str = "status acme/app-db", user: str = "U0ALICE001") -> str:
    reply = bot.command(text, user=user)
    assert reply.ack == {} and reply.public == []
    return json.dumps([e.blocks or e.text for e in reply.private], ensure_ascii=False)


def section_of(said: str, policy_id: str) -> str:
    """The lines about one policy (each policy's lines start at its mark)."""
    start = said.index(f"`{policy_id}`")
    marks = [said.find(mark, start) for mark in (":white_check_mark:", ":warning:")]
    ends = [m for m in marks if m != -1]
    return said[start:min(ends)] if ends else said[start:]


def forget_backups(planetscale: PlanetScaleState, policy_id: str) -> None:
    for backups in planetscale.backups.values():
        backups[:] = [b for b in backups if b["backup_policy"]["id"] != policy_id]


def test_status_shows_each_policy_healthy_with_its_last_success_and_next_run(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    said = shown(bot)
    assert "3 policies, all healthy" in said
    prod = section_of(said, PROD)
    assert "Last success:* <!date^" in prod and " GB," in prod and "kept until" in prod
    assert "Failures in 7 days:* 0" in prod and "Next run:*" in prod
    backups = [c for c in planetscale.calls("GET") if c.path.endswith("/backups")]
    # Each policy's own backups (the policy filter), production policies on the production branch.
    assert {(c.path.split("/")[-2], c.query["policy"]) for c in backups} == {
        ("main", PROD), ("main", WEEKLY), ("dev", DEV)}
    assert planetscale.calls("PATCH") == []


def test_a_failed_last_backup_and_the_failures_of_the_week_are_shown(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_backup("acme", "app-db", PROD, state="failed", hours_ago=0.5)
    planetscale.add_backup("acme", "app-db", PROD, state="failed", hours_ago=24 * 8)  # older than a week
    planetscale.add_backup("acme", "app-db", PROD, state="failed", hours_ago=13)
    said = shown(bot)
    assert "1 needs attention" in said
    prod = section_of(said, PROD)
    assert ":warning:" in said and "Failures in 7 days:* 2" in prod and "The last backup failed" in prod


def test_a_policy_recovered_after_a_failure_is_healthy_again(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_backup("acme", "app-db", PROD, state="failed", hours_ago=0.8)
    planetscale.add_backup("acme", "app-db", PROD, state="success", hours_ago=0.2)
    said = shown(bot)
    assert "all healthy" in said and "Failures in 7 days:* 1" in section_of(said, PROD)


def test_a_policy_with_no_success_for_twice_its_frequency_is_stale(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    forget_backups(planetscale, PROD)
    planetscale.add_backup("acme", "app-db", PROD, state="success", hours_ago=25)  # every 12 h: stale after 24 h
    planetscale.add_backup("acme", "app-db", PROD, state="running", hours_ago=0)
    said = shown(bot)
    assert "Stale: no successful backup within 1 day" in section_of(said, PROD)
    forget_backups(planetscale, PROD)
    planetscale.add_backup("acme", "app-db", PROD, state="success", hours_ago=23)
    assert "all healthy" in shown(bot)


def test_the_stale_factor_is_a_setting(settings: Settings) -> None:
    import pytest

    from bot.runtime.settings import SettingsError

    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PLANETSCALE_SERVICE_TOKEN_ID": "id",
           "PLANETSCALE_SERVICE_TOKEN": "t"}
    assert Settings.load(env={**env, "BACKUP_BOT_STALE_FACTOR": "3"}, dotenv_path=None).stale_factor == 3.0
    assert Settings.load(env=env, dotenv_path=None).stale_factor == 2.0
    for bad in ("0.5", "lots", "nan"):
        with pytest.raises(SettingsError, match="BACKUP_BOT_STALE_FACTOR is malformed"):
            Settings.load(env={**env, "BACKUP_BOT_STALE_FACTOR": bad}, dotenv_path=None)


def test_the_last_success_is_found_on_a_later_page(bot: Bot, planetscale: PlanetScaleState) -> None:
    forget_backups(planetscale, PROD)
    planetscale.add_backup("acme", "app-db", PROD, state="success", hours_ago=200, size=7_000_000)
    for n in range(150):  # newer failures fill the first pages (the list is newest first)
        planetscale.add_backup("acme", "app-db", PROD, state="failed", hours_ago=199 - n)
    prod = section_of(shown(bot), PROD)
    assert "7.0 MB" in prod and "stale: no successful backup" in prod and "The last backup failed" in prod
    reads = [(c.query.get("from") is not None, c.query.get("page")) for c in planetscale.calls("GET")
             if c.query.get("policy") == PROD]
    # The last eight days' (failures only), then the whole history for its last success.
    assert reads == [(True, "1"), (True, "2"), (False, "1"), (False, "2")], reads


def test_status_shows_only_the_targets_the_caller_may_see(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.use_rules("""
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["U0ALICE001"]
""")
    said = shown(bot)
    assert DEV in said and PROD not in said and "may not see" not in said  # hidden ones not even counted
    assert all(c.query.get("policy") in (None, DEV) for c in planetscale.calls("GET"))


def test_someone_no_rule_names_reads_nothing(bot: Bot, planetscale: PlanetScaleState) -> None:
    said = shown(bot, user="U0DAVE0001")
    assert "not named in the access rules" in said
    assert planetscale.calls() == []


def test_planetscale_failing_is_answered_with_the_reason(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=403, path_contains="/branches", times=None))
    said = shown(bot)
    assert "PlanetScale" in said and "Backup status" not in said
    [failed] = [e for e in bot.audit.all() if e.action == "failed"]
    assert "StatusCommand" in str(failed.detail)


def test_one_branch_unreadable_is_named_and_the_rest_still_shows(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=500, path_contains="/branches/dev/backups", times=None))
    said = shown(bot)
    assert "Backups of dev could not be read" in section_of(said, DEV)
    assert "Last success:* <!date^" in section_of(said, PROD)


def test_a_policy_that_never_succeeded_is_stale_once_it_is_old_enough(planetscale: PlanetScaleState) -> None:
    from datetime import UTC, datetime

    from bot.domain.backups import judge_health
    from bot.domain.policy import BackupPolicy

    policy = BackupPolicy.model_validate(planetscale.policy("acme", "app-db", PROD))
    created = datetime.fromisoformat(policy.created_at.replace("Z", "+00:00"))
    assert not judge_health(policy, ["main"], [], created + timedelta(hours=23), 2.0).stale
    assert judge_health(policy, ["main"], [], created + timedelta(hours=25), 2.0).stale
    assert judge_health(policy, ["main"], [], datetime.now(UTC), 2.0).problem is not None


def test_a_backup_with_a_malformed_time_is_a_planetscale_error_in_words(bot: Bot,
                                                                        planetscale: PlanetScaleState) -> None:
    bad = {"id": "bkbad", "state": "success", "size": 1, "created_at": "2026-02-30T00:00:00Z", "started_at": None,
           "completed_at": None, "expires_at": None}
    planetscale.add_fault(Fault(status=200, times=None, path_contains="/backups", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": [bad]})))
    said = shown(bot)
    assert "Something went wrong" not in said and "PlanetScale answered" in said


def test_a_policy_in_a_unit_the_spec_does_not_list_is_a_planetscale_error_not_nought_hours(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][PROD]["frequency_unit"] = "quarter"
    planetscale.add_fault(Fault(status=200, times=None, path_contains="/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None,
         "data": list(planetscale.policies[("acme", "app-db")].values())})))
    said = shown(bot)
    assert "Something went wrong" not in said and "frequency_unit" in said


def test_a_frequency_too_large_for_any_calendar_is_shown_not_crashed_on(bot: Bot,
                                                                        planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][PROD].update(frequency_value=2**31 - 1, frequency_unit="month")
    said = shown(bot)
    assert "Something went wrong" not in said and PROD in said


def test_a_next_run_at_the_calendars_edge_is_shown_not_crashed_on(bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][PROD]["next_run_at"] = "0001-01-01T00:00:00"
    planetscale.add_fault(Fault(status=200, times=None, path_contains="/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None,
         "data": list(planetscale.policies[("acme", "app-db")].values())})))
    said = shown(bot)
    assert "Something went wrong" not in said and "|Mon 01 Jan 1 00:00 UTC>" in said


def test_status_of_a_database_with_more_policies_than_it_reads_says_how_many_it_left_unread(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    for n in range(60):
        planetscale.add_policy("acme", "app-db", f"bpx{n:04d}")
    backup_reads = len([c for c in planetscale.calls("GET") if c.path.endswith("/backups")])
    said = shown(bot)
    assert "50 policies" in said and "13 more not read: status reads the first 50" in said
    reads = [c for c in planetscale.calls("GET") if c.path.endswith("/backups")]
    assert len(reads) - backup_reads <= 50 * 10  # at most MAX_BRANCHES_READ for each policy read


def test_a_policy_that_never_backed_up_is_estimated_from_its_targets_backups_as_a_change_to_it_is(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """`status` said "not estimated" for a policy with no success of its own, while a change to it was estimated
    from its target's latest successful backups: both say the same now."""
    planetscale.add_policy("acme", "app-db", "bp09new", name="New daily", target="production", frequency_value=1,
                           frequency_unit="day", retention_value=3, retention_unit="day")
    said = section_of(shown(bot), "bp09new")
    preview = json.dumps([e.blocks or e.text for e in bot.command(
        "update acme/app-db bp09new retention=4d --dry-run", user="U0ALICE001").private], ensure_ascii=False)
    before = preview.split("*Estimated storage:* ", 1)[1].split(" →", 1)[0]
    assert before.endswith(" GB") and f"3 backups kept at once, about {before}" in said, (said, preview)
    assert "from its target's latest successful backups: it has none of its own yet" in said, said


def test_a_never_backed_up_policy_whose_targets_backups_cannot_be_read_says_why(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_policy("acme", "app-db", "bp09new", name="New daily", target="production", frequency_value=1,
                           frequency_unit="day", retention_value=3, retention_unit="day")
    # The production policies' own reads (the policy filter: bp09new's last eight days, then its whole history)
    # answer; the read of every policy's backups fails.
    planetscale.add_fault(Fault(status=500, path_contains="/branches/main/backups", times=None, skip=4))
    full = shown(bot)
    said = section_of(full, "bp09new")
    assert "storage not estimated (its target's backups could not be read: PlanetScale" in said, said
    assert "Last success:* <!date^" in section_of(full, PROD) and "could not be read" not in section_of(full, PROD)


def test_another_policys_backups_in_an_answer_that_ignored_the_policy_filter_keep_no_policy_healthy(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        forget_backups(planetscale, WEEKLY)
        theirs = [b for bs in planetscale.backups.values() for b in bs if b["backup_policy"]["id"] == PROD]
    # A proxy or cache answering every branch's backups whatever `policy=` asks: PROD's successes, listed for each.
    planetscale.add_fault(Fault(status=200, times=None, path_contains="/backups", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": theirs})))
    said = shown(bot)
    assert "Stale: no successful backup within" in section_of(said, WEEKLY), said
    assert "all healthy" not in said


def test_status_lists_the_databases_branches_once(bot: Bot, planetscale: PlanetScaleState) -> None:
    """The health, the estimate of every branch and the target's estimate each listed the branches again: three
    lists of the same branches in one command (up to 50 pages each). Listed once now, and reused."""
    for n in range(11):  # past the branches a health reads: the estimate reads every one
        planetscale.add_branch("acme", "app-db", f"dev-{n:02d}", production=False)
    planetscale.add_policy("acme", "app-db", "bp09new", name="New daily", target="production", frequency_value=1,
                           frequency_unit="day", retention_value=3, retention_unit="day")  # a target's estimate
    planetscale.clear_record()
    said = shown(bot)
    assert "from its target's latest successful backups" in section_of(said, "bp09new")
    assert "estimated" in section_of(said, DEV) or "GB" in section_of(said, DEV)
    assert [c.path for c in planetscale.calls("GET") if c.path.endswith("/branches")] == [
        "/organizations/acme/databases/app-db/branches"]
