"""Access rules on their own: the file, first-match and glob semantics, roles, groups, PlanetScale roles."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.access import AccessControl
from bot.domain.access_file import AccessFile, StaticRules
from bot.domain.access_rules import AccessFileError, Action, parse_rules
from bot.domain.group_directory import DirectoryError, GroupDirectory
from bot.domain.naming import unmarked

CONTRACT_SAMPLE = """
[approvals]
expire_after = "24h"

[[rules]]
organizations = ["acme"]
databases = ["app-db", "billing-*"]   # glob patterns
targets = ["production"]              # omit for both
editors = ["U0123ABCD", "@dba-team"]  # Slack user IDs or user groups (@handle or S… ID)
approvers = ["@dba-leads"]
approvals = 1                         # approvals needed before the change is applied; 0 = at once
channels = ["C0456EFGH"]              # omit for any channel
planetscale_role = "admin"            # omit, or require the requester to be this PlanetScale org role

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team", "S0OTHERS01"]
approvers = ["@dba-leads"]
"""
GROUPS = [
    {"id": "S0DBATEAM1", "handle": "dba-team", "users": ["U0BOB00001", "U0ALICE001"]},
    {"id": "S0DBALEAD1", "handle": "dba-leads", "users": ["U0CAROL001"]},
    {"id": "S0OTHERS01", "handle": "others", "users": ["U0ERIN0001"]},
]
PROD_CHANNEL = "C0456EFGH"


def control(text: str = CONTRACT_SAMPLE, roles: dict[str, str] | None = None,
            role_error: str | None = None) -> AccessControl:
    def role_of(organization: str, user: str) -> str | None:
        if role_error:
            raise DirectoryError(role_error)
        return (roles or {}).get(user)

    return AccessControl(StaticRules(parse_rules(text)), GroupDirectory(lambda: GROUPS), role_of)


def test_the_contracts_sample_parses() -> None:
    rules = parse_rules(CONTRACT_SAMPLE)
    assert rules.expire_after_seconds == 24 * 3600
    assert [r.line for r in rules.rules] == [5, 15]
    assert rules.rules[0].planetscale_role == "admin" and rules.rules[1].approvals == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("[[rules]]\norganizations = [acme]\n", "line 2"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['bob']\n", "line 4 (rule 1): editors: `bob`"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['U1AB']\ntargets = ['staging']\n",
     "line 5 (rule 1): targets"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['U1AB']\ncolour = 'red'\n",
     "line 5 (rule 1): colour: Extra inputs"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['U1AB']\nchannels = ['#general']\n",
     "channels: `#general` is not a channel ID"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['U1AB']\napprovals = 2\n",
     "no approvers"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\n", "names no editors and no approvers"),
    ("[approvals]\nexpire_after = 'soon'\n[[rules]]\n", "line 2: expire_after: `soon` is not a duration"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = [\"U0ALICE001\\n\"]\n",
     "line 4 (rule 1): editors: `U0ALICE001"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = [\"@dba-team\\n\"]\n", "editors: `@dba-team"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = [\"S0DBATEAM1\\n\"]\n", "editors: `S0DBATEAM1"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['U1AB']\nchannels = [\"C0DBAOPS01\\n\"]\n",
     "is not a channel ID"),
    ("# nothing\n", "no [[rules]]"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\napprovers = 5\napprovals = { '@dba' = 1 }\n",
     "line 4 (rule 1): approvers: Input should be a valid list"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['U1AB']\n[[guardrails]]\n"
     "organizations = ['acme']\ndatabases = ['*']\nmin_retention = '" + "1" * 5000 + "d'\n",
     "line 8 (guardrail 1): min_retention: `" + "1" * 40 + "…` is not an amount: its number has 5000 digits"),
    ("[[rules]]\norganizations = ['acme']\ndatabases = ['*']\neditors = ['U1AB']\nplanetscale_role = 'owner'\n",
     "planetscale_role"),
])
def test_a_bad_file_is_refused_with_its_line_and_reason(text: str, expected: str) -> None:
    with pytest.raises(AccessFileError) as caught:
        parse_rules(text)
    assert expected in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("[approvals.remind]\nx = 1\n[[rules]]\n", "access.toml line 1: remind: write a list"),
    ("approvals.remind = 5\n[[rules]]\n", "access.toml line 1: remind: write a list"),
    ("[approvals]\nremind.x = 1\n[[rules]]\n", "access.toml line 2: remind: write a list"),
    ("approvals.expire_after = 'soon'\n[[rules]]\n", "access.toml line 1: expire_after: `soon`"),
    ("[approvals]\n'remind' = 5\n[[rules]]\n", "access.toml: remind: write a list"),
])
def test_an_approvals_key_written_as_a_table_or_dotted_names_its_line_or_none(text: str, expected: str) -> None:
    """`[approvals.remind]`, `approvals.remind = …` and `remind.x = …` are TOML the file may hold: the mistake is
    named at the line that wrote it, or, where no line can be found, at none (never "line 0")."""
    with pytest.raises(AccessFileError) as caught:
        parse_rules(text)
    assert expected in str(caught.value) and "line 0" not in str(caught.value), str(caught.value)


def test_a_database_pattern_written_with_capitals_matches_the_lowercase_name() -> None:
    rules = parse_rules("[[rules]]\norganizations = ['ACME']\ndatabases = ['App-DB']\neditors = ['U0ALICE001']\n")
    assert rules.matching("acme", "app-db", "production", PROD_CHANNEL) is not None


def test_no_rule_means_no_access_and_nothing_is_read() -> None:
    decision = control().may_see_database("U0DAVE0001", "acme", "app-db", PROD_CHANNEL)
    assert not decision.allowed and "not named" in decision.reason
    assert not control().may_see_database("U0BOB00001", "globex", "app-db", PROD_CHANNEL).allowed


@pytest.mark.parametrize(("database", "covered"), [
    ("app-db", True), ("billing-eu", True), ("billing-", True), ("app-db2", False), ("Billing-eu", False),
])
def test_database_globs(database: str, covered: bool) -> None:
    decision = control().decide("U0BOB00001", Action.READ, "acme", database, ["production"], PROD_CHANNEL)
    assert decision.allowed is covered


@pytest.mark.parametrize(("user", "action", "target", "channel", "allowed"), [
    ("U0123ABCD", Action.CHANGE, "production", PROD_CHANNEL, True),     # named by ID
    ("U0BOB00001", Action.CHANGE, "production", PROD_CHANNEL, True),    # via @dba-team
    ("U0CAROL001", Action.CHANGE, "production", PROD_CHANNEL, False),   # approver, not editor
    ("U0CAROL001", Action.APPROVE, "production", PROD_CHANNEL, True),
    ("U0CAROL001", Action.READ, "production", PROD_CHANNEL, True),      # approvers may read
    ("U0BOB00001", Action.APPROVE, "production", PROD_CHANNEL, False),
    ("U0BOB00001", Action.CHANGE, "production", "C0RANDOM01", False),   # wrong channel
    ("U0BOB00001", Action.CHANGE, "development", "C0RANDOM01", True),   # any channel for development
    ("U0ERIN0001", Action.CHANGE, "development", "C0RANDOM01", True),   # via group ID
    ("U0ERIN0001", Action.READ, "production", PROD_CHANNEL, False),
    ("U0DAVE0001", Action.READ, "development", PROD_CHANNEL, False),
])
def test_roles_targets_and_channels(user: str, action: Action, target: str, channel: str, allowed: bool) -> None:
    roles = {"U0123ABCD": "admin", "U0BOB00001": "admin"}
    decision = control(roles=roles).decide(user, action, "acme", "app-db", [target], channel)
    assert decision.allowed is allowed, decision.reason


def test_may_approve_answers_as_an_approval_decided_in_full() -> None:
    access = control()
    answers = set()
    for user in ("U0123ABCD", "U0BOB00001", "U0CAROL001", "U0ERIN0001", "U0DAVE0001"):
        for database in ("app-db", "web-db", "other"):
            for targets in (("production",), ("development",), ("development", "production"), ("staging",)):
                for channel in (PROD_CHANNEL, "C0RANDOM01"):
                    decided = access.decide(user, Action.APPROVE, "acme", database, targets, channel).allowed
                    assert access.may_approve(user, "acme", database, targets, channel) is decided
                    answers.add(decided)
    assert answers == {True, False}


def test_the_first_matching_rule_decides() -> None:
    text = """
[[rules]]
organizations = ["acme"]
databases = ["app-db"]
editors = ["U0ALICE001"]
approvers = ["U0CAROL001"]
approvals = 2

[[rules]]
organizations = ["*"]
databases = ["*"]
editors = ["U0ALICE001", "U0BOB00001"]
"""
    rules = control(text)
    first = rules.decide("U0ALICE001", Action.CHANGE, "acme", "app-db", ["production"], "C1X")
    assert first.allowed and first.approvals == 2 and first.rule and first.rule.number == 1
    # bob is named only by the second rule, but the first already matched app-db and decides
    assert not rules.decide("U0BOB00001", Action.CHANGE, "acme", "app-db", ["production"], "C1X").allowed
    assert rules.decide("U0BOB00001", Action.CHANGE, "acme", "web-db", ["production"], "C1X").allowed


def test_a_move_to_production_is_judged_by_the_production_rule_too() -> None:
    rules = control(roles={"U0ERIN0001": "admin", "U0BOB00001": "admin"})
    # erin may change development, but is not a production editor
    move = rules.decide("U0ERIN0001", Action.CHANGE, "acme", "app-db", ["development", "production"], PROD_CHANNEL)
    assert not move.allowed and "production" in move.reason
    bob = rules.decide("U0BOB00001", Action.CHANGE, "acme", "app-db", ["development", "production"], PROD_CHANNEL)
    assert bob.allowed and bob.approvals == 1  # the stricter rule's approvals


@pytest.mark.parametrize(("roles", "error", "expected"), [
    ({"U0BOB00001": "member"}, None, "you are a member"),
    ({}, None, "not a member of acme"),
    ({}, "Slack did not share your e-mail address", "could not be checked"),
])
def test_planetscale_role_is_required_and_fails_closed(roles: dict[str, str], error: str | None,
                                                       expected: str) -> None:
    decision = control(roles=roles, role_error=error).decide("U0BOB00001", Action.CHANGE, "acme", "app-db",
                                                             ["production"], PROD_CHANNEL)
    assert not decision.allowed and expected in unmarked(decision.reason)


def test_group_memberships_are_cached_for_a_short_time_and_failures_fail_closed() -> None:
    calls: list[int] = []
    now = [0.0]

    def list_groups() -> list[dict[str, object]]:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("ratelimited")
        return GROUPS  # type: ignore[return-value]

    groups = GroupDirectory(list_groups, ttl=60, clock=lambda: now[0])
    assert groups.is_named("U0BOB00001", ["@dba-team"])
    now[0] = 30
    assert groups.is_named("U0BOB00001", ["S0DBATEAM1"]) and len(calls) == 1
    now[0] = 61
    assert groups.is_named("U0BOB00001", ["@dba-team"]) and len(calls) == 2
    now[0] = 130  # refresh fails: the last known membership is used
    assert groups.is_named("U0BOB00001", ["@dba-team"]) and len(calls) == 3
    cold = GroupDirectory(lambda: (_ for _ in ()).throw(RuntimeError("down")))
    with pytest.raises(DirectoryError):
        cold.is_named("U0BOB00001", ["@dba-team"])
    assert cold.is_named("U0BOB00001", ["U0BOB00001"]) is True  # a user ID needs no lookup


def test_refreshing_ahead_keeps_the_groups_fresh_and_lists_them_only_once_half_way_to_stale() -> None:
    calls: list[int] = []
    now = [0.0]
    failing = [False]

    def list_groups() -> list[dict[str, object]]:
        calls.append(1)
        if failing[0]:
            raise RuntimeError("ratelimited")
        return GROUPS  # type: ignore[return-value]

    groups = GroupDirectory(list_groups, ttl=60, clock=lambda: now[0])
    assert not groups.fresh
    groups.refresh()
    assert groups.fresh and len(calls) == 1
    now[0] = 30
    groups.refresh()
    assert len(calls) == 1  # not yet half-way
    now[0] = 31
    groups.refresh()
    assert len(calls) == 2
    now[0] = 80  # 49 s after the last listing: still fresh, never listed again by a reader
    assert groups.fresh and groups.is_named("U0BOB00001", ["@dba-team"]) and len(calls) == 2
    failing[0] = True
    now[0] = 100
    groups.refresh()  # logged, never raised: the readers decide with what they have, as before
    assert len(calls) == 3 and not groups.fresh
    cold = GroupDirectory(lambda: (_ for _ in ()).throw(RuntimeError("down")))
    cold.refresh()
    assert not cold.fresh


def test_remembered_memberships_are_trusted_for_at_most_max_age_while_slack_fails() -> None:
    now = [0.0]
    failing = [False]

    def list_groups() -> list[dict[str, object]]:
        if failing[0]:
            raise DirectoryError("usergroups.list: ratelimited")
        return GROUPS  # type: ignore[return-value]

    groups = GroupDirectory(list_groups, ttl=60, clock=lambda: now[0], max_age=3600)
    assert groups.is_named("U0BOB00001", ["@dba-team"])
    failing[0] = True
    now[0] = 3600
    assert groups.is_named("U0BOB00001", ["@dba-team"])  # an hour old: still trusted
    now[0] = 3601
    with pytest.raises(DirectoryError) as caught:
        groups.is_named("U0BOB00001", ["@dba-team"])
    message = str(caught.value)
    assert "could not be read since" in message and "ratelimited" in message and "older than 1 hour" in message
    since = datetime.strptime(message.split("since ")[1][:16], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - timedelta(seconds=3601) - since).total_seconds()) < 120
    failing[0] = False  # Slack answers again: trusted again
    assert groups.is_named("U0BOB00001", ["@dba-team"])


def test_the_file_is_reloaded_when_it_changes_and_a_bad_version_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "access.toml"
    path.write_text(CONTRACT_SAMPLE)
    source = AccessFile(str(path))
    assert len(source.rules.rules) == 2
    path.write_text(CONTRACT_SAMPLE.split("[[rules]]", 2)[0] + "[[rules]]" + CONTRACT_SAMPLE.split("[[rules]]")[1])
    os.utime(path, (time.time() - 5, time.time() - 5))  # written whole a while ago
    assert len(source.rules.rules) == 1 and source.last_error is None
    path.write_text("[[rules]]\nbroken = \n")
    os.utime(path, (time.time() - 10, time.time() - 10))
    assert len(source.rules.rules) == 1
    assert source.last_error and "keeping the last good rules" in source.last_error


def test_help_capabilities() -> None:
    rules = control(roles={})
    assert rules.capabilities("U0DAVE0001", PROD_CHANNEL) == []
    carol = rules.capabilities("U0CAROL001", PROD_CHANNEL)
    assert [c.describe() for c in carol] == [
        "acme / app-db, billing-* (production): see, approve", "acme / * (development): see, approve"]
    assert not any(c.may_change for c in carol) and all(c.may_approve for c in carol)
    bob = rules.capabilities("U0BOB00001", PROD_CHANNEL)
    assert bob[0].may_change and "change (with 1 approval)" in bob[0].describe()


@pytest.mark.parametrize(("content", "reason"), [
    ("# r\u00e9gles\n".encode("latin-1"), "line 1: byte 0xE9 is not UTF-8"),
    (b"# fine\n# fine\nx = " + b"[" * 3000 + b"]" * 3000 + b"\n", "line 3: arrays or tables nested too deeply"),
])
def test_a_file_not_utf8_or_nested_too_deep_is_refused_at_start_and_kept_out_on_reload(
        tmp_path: Path, content: bytes, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    good = '[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0ALICE001"]\n'
    path = tmp_path / "access.toml"
    path.write_bytes(content + good.encode())
    with pytest.raises(AccessFileError, match=reason):
        AccessFile(str(path))
    path.write_text(good)
    rules = AccessFile(str(path))
    kept = rules.rules
    path.write_bytes(content + good.encode())
    os.utime(path, (time.time() - 10, time.time() - 10))  # a new version, settled: written a while ago
    assert rules.rules is kept  # the last good rules, said in the log and on /healthz (last_error)
    assert rules.last_error is not None and reason in rules.last_error
    assert reason in caplog.text


def test_an_access_file_that_is_a_folder_is_refused_with_the_reason_at_start(tmp_path: Path) -> None:
    from bot.runtime.app import load_access_rules
    from bot.runtime.settings import SettingsError

    with pytest.raises(SettingsError, match="cannot be read"):
        load_access_rules(str(tmp_path))


def test_an_access_file_replaced_by_a_fifo_keeps_the_last_good_rules_and_blocks_no_decision(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import threading

    path = tmp_path / "access.toml"
    path.write_text('[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0ALICE001"]\n')
    rules = AccessFile(str(path))
    kept = rules.rules
    path.unlink()
    os.mkfifo(path)
    os.utime(path, (time.time() - 5, time.time() - 5))  # settled
    read: list[object] = []
    deciding = threading.Thread(target=lambda: read.append(rules.rules), daemon=True)
    deciding.start()
    deciding.join(10)
    if deciding.is_alive():  # let the blocked reader go: a writer that closes at once
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        deciding.join(10)
        pytest.fail("reading the access file blocked a decision")
    assert read == [kept] and rules.last_error is not None and "not a regular file" in rules.last_error


def reload_refused(path: Path, good: str, bad: str) -> str:
    """Rules read from `good`, then `bad` saved a while ago: the reload keeps the rules it had; its reason."""
    path.write_text(good)
    rules = AccessFile(str(path))
    kept = rules.rules
    path.write_text(bad)
    os.utime(path, (time.time() - 10, time.time() - 10))
    assert rules.rules is kept
    assert rules.last_error is not None
    return rules.last_error


@pytest.mark.parametrize(("extra", "reason"), [
    ('\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\nmax_storage = "' + "9" * 400 + 'TB"\n',
     "line 9 (guardrail 1): max_storage: `" + "9" * 400 + "TB` is too large"),
    ('guardrails = ["x"]\n', "line 1: guardrails: write each guardrail as a [[guardrails]] table"),
    ('guardrails = [5]\n', "line 1: guardrails: write each guardrail as a [[guardrails]] table"),
])
def test_a_mistyped_guardrail_is_refused_with_its_line_at_start_and_kept_out_on_reload(
        tmp_path: Path, extra: str, reason: str) -> None:
    good = '[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0ALICE001"]\n'
    path = tmp_path / "access.toml"
    bad = good + extra if extra.startswith("\n") else extra + good  # a key after [[rules]] would be the rule's
    path.write_text(bad)
    with pytest.raises(AccessFileError, match=re.escape(reason)):
        AccessFile(str(path))
    assert reason in reload_refused(path, good, bad)


def test_rules_that_are_not_tables_are_refused_with_their_line() -> None:
    with pytest.raises(AccessFileError, match=re.escape("access.toml line 2: rules: write each rule as a [[rules]] "
                                                        "table")):
        parse_rules('# the rules\nrules = ["x"]\n')


@pytest.mark.parametrize("moment", ["1h" + " " * 1_000_000 + "x", "1h" + " before" * 200_000,
                                    "1h" + (" before" + " " * 1000) * 1000])
def test_a_reminder_of_a_million_spaces_is_refused_with_its_line_at_start_and_on_reload(
        tmp_path: Path, moment: str) -> None:
    """A lazy pattern read such a reminder for hours (more than ten minutes on main, before this test was
    stopped), holding the reload's lock: every decision waited on it."""
    good = '[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0ALICE001"]\n'
    bad = f'[approvals]\nremind = ["50%", "{moment}"]\n' + good
    path = tmp_path / "access.toml"
    assert "line 2: remind:" in reload_refused(path, good, bad)
    with pytest.raises(AccessFileError, match=r"line 2: remind: .* is not a moment of a request's life") as caught:
        AccessFile(str(path))
    assert len(str(caught.value)) < 1000  # the value's start, not a megabyte of it
