"""Bulk changes tried as an adversary would, further (issue 24): the list Slack refused in the thread posted by
the sweep, previews inside five messages, one retry however many clicks, each policy's own cost, refusals told.
Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, sweep
from conftest import Bot
from test_bulk import add_databases, button, channel_messages, latest, policy, shown, thread
from test_create_delete import revert_value

from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import REVERT
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_bulk_requests_list_slack_refused_in_its_thread_is_posted_by_the_sweep_once(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "lost", 3)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=True))
    approvals_bot.command('update acme/lost-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert thread(approvals_bot, message) == ""
    sweep(approvals_bot)
    listed = thread(approvals_bot, message)
    assert all(f"`{db}`" in listed for db in dbs), listed
    sweep(approvals_bot)
    assert thread(approvals_bot, message) == listed  # posted once


def long_named(planetscale: PlanetScaleState, count: int) -> list[str]:
    """`count` databases with names of 60 characters, each with two policies named in 120."""
    names = []
    for n in range(count):
        name = f"wide-{n:02d}-" + "x" * 52
        planetscale.add_database("acme", name)
        for suffix, target in (("p", "production"), ("d", "development")):
            planetscale.add_policy("acme", name, f"{n:02d}{suffix}", name=f"{target} {n:02d} " + "ä" * 100,
                                   target=target, retention_value=2, retention_unit="day")
        names.append(name)
    return names


def test_a_dry_run_of_a_hundred_long_named_policies_lists_each_within_five_messages(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = long_named(planetscale, 50)
    renamed = "ö" * 120
    reply = approvals_bot.command(f'update acme/wide-* * retention=14d frequency=6h name="{renamed}" --dry-run',
                                  user=ALICE)
    said = [e for e in reply.events if e.kind == "response"]
    assert len(said) <= 5 and approvals_bot.slack.refusals == []
    text = reply.all_text()
    # One policy of each database may take the new name; the other is listed with why it may not.
    assert "Dry run" in text and "50 backup policies" in text and "those it may not change, and why (50)" in text
    missing = [db for db in dbs if text.count(f"`{db}`") < 2]
    assert missing == [], f"{len(missing)} databases not listed with both policies"


def test_a_second_retry_click_after_the_first_retry_was_applied_retries_nothing(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Development needs no approval: the first Retry applies at once (and fails again, PlanetScale still
    refusing); a second click on the same button asks nothing and sends nothing: the retry's own message
    offers what failed again."""
    add_databases(planetscale, "twice", 2)
    planetscale.add_fault(Fault(status=500, method="PATCH", times=None))
    approvals_bot.command('update acme/twice-* "Development daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    shown_now = latest(approvals_bot, message)
    retry = button(shown_now, BULK_RETRY)
    approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown_now)
    sent = len(planetscale.calls("PATCH"))
    second = approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown_now)
    assert len(planetscale.calls("PATCH")) == sent, "retried twice"
    assert "retried already" in second.all_text()
    retries = [e for e in channel_messages(approvals_bot) if e.ts != message.ts]
    assert len(retries) == 1


def test_each_policys_line_in_a_bulk_request_shows_its_own_backups_kept_and_storage(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "1TB"
""")
    dbs = add_databases(planetscale, "cost", 2)
    planetscale.add_backup("acme", dbs[0], f"{dbs[0]}-prod", size=1_000_000_000)
    planetscale.add_backup("acme", dbs[1], f"{dbs[1]}-prod", size=3_000_000_000)
    approvals_bot.command('update acme/cost-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    for where in (shown(approvals_bot, message), thread(approvals_bot, message)):
        lines = {db: next(line for line in where.split("\\n") if f"• `{db}`" in line) for db in dbs}
        # Backups every 12 hours, kept 2 days → 14.
        assert "kept 4 → 28" in lines[dbs[0]] and "4.0 GB → 28.0 GB" in lines[dbs[0]], lines[dbs[0]]
        assert "kept 4 → 28" in lines[dbs[1]] and "12.0 GB → 84.0 GB" in lines[dbs[1]], lines[dbs[1]]


def test_reverting_a_rename_or_a_deletion_of_a_name_holding_a_format_character_is_refused_with_the_reason(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Names with a format character (Cf) are refused at the door; a policy named so in the dashboard may still
    be renamed or deleted, and their reverts would bring the name back: refused, saying why."""
    for policy_id in ("bidi-a", "bidi-b"):
        planetscale.add_policy("acme", "app-db", policy_id, name="Dev\u202enightly", target="development")
    approvals_bot.command('update acme/app-db bidi-a name="Dev nightly"', user=ALICE)
    approvals_bot.command("delete acme/app-db bidi-b", user=ALICE)
    asked = [e for e in channel_messages(approvals_bot)]
    assert len(asked) == 2 and "bidi-b" not in planetscale.policies[("acme", "app-db")]
    for message in asked:
        reply = approvals_bot.click(REVERT, revert_value(approvals_bot, message.ts), user=ALICE, message=message)
        said = reply.all_text()
        assert "Something went wrong" not in said and "U+202E" in said, said
        assert "cannot be reverted" in said
    assert planetscale.calls("POST") == [] and planetscale.policy("acme", "app-db", "bidi-a")["name"] == "Dev nightly"


def test_a_database_matching_the_glob_after_the_request_is_not_changed_by_its_approval(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "grow", 2)
    approvals_bot.command('update acme/grow-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    [late] = add_databases(planetscale, "grow-late", 1)  # matches grow-*, and nobody approved a change to it
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert all(policy(planetscale, db)["retention_value"] == 14 for db in dbs)
    assert policy(planetscale, late)["retention_value"] == 2
    assert not any(f"/databases/{late}/" in c.path for c in planetscale.calls("PATCH"))
    assert "Applied to 2 of 2" in shown(approvals_bot, message)


def test_a_long_list_whose_second_part_slack_refused_is_completed_by_the_sweep_without_repeating_the_first(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = long_named(planetscale, 50)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=True, skip=1))
    approvals_bot.command("update acme/wide-* * retention=14d", user=ALICE)
    [message] = channel_messages(approvals_bot)

    def parts() -> list[str]:
        return [e.blocks[0]["elements"][0]["text"] for e in approvals_bot.slack.events
                if e.kind == "message" and e.thread_ts == message.ts]

    assert len(parts()) == 1
    sweep(approvals_bot)
    sweep(approvals_bot)
    posted = parts()
    assert len(posted) >= 2 and len(set(posted)) == len(posted), posted  # each part once
    listed = thread(approvals_bot, message)
    assert all(listed.count(f"`{db}`") == 2 for db in dbs)  # its two policies, each listed once


def test_a_bulk_move_that_would_leave_a_production_database_without_its_last_policy_is_refused_when_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Two production policies, at least one required: one bulk change moving both out of production asks
    for the first only, and says the second is refused by the guardrail, before anyone approves."""
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["last-db"]
targets = ["production"]
min_policies = 1
""")
    planetscale.add_database("acme", "last-db")
    for suffix in ("a", "b"):
        planetscale.add_policy("acme", "last-db", f"last-{suffix}", name=f"Prod {suffix}", target="production")
    approvals_bot.command('update acme/last-db "Prod *" target=development', user=ALICE)
    [message] = channel_messages(approvals_bot)
    view = shown(approvals_bot, message)
    assert "Would change 1 policy in 1 database" in view, view
    assert "Prod b*: refused by a guardrail" in view and "at least 1 required" in view
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert [p["name"] for p in planetscale.policies[("acme", "last-db")].values()
            if p["target"] == "production"] == ["Prod b"]
