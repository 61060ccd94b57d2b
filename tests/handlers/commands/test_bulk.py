"""Bulk changes through Bolt's real pipeline, on SQLite and PostgreSQL: one request over many policies, approved
once, each policy applied through the one change path (its own lease, judged again on its own), each outcome
told on its own, and the failed ones offered again."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, second_instance
from bulk_helpers import button, channel_messages, latest
from conftest import Bot
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

LEAD2 = "U0LEAD0002"
_names = itertools.count(1)


def add_databases(planetscale: PlanetScaleState, prefix: str, count: int, **values: Any) -> list[str]:
    """`count` databases, each with a production policy "Production daily" (kept 2 days) and a development one."""
    names = []
    for n in range(1, count + 1):
        name = f"{prefix}-{n:02d}"
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production",
                               **values)
        planetscale.add_policy("acme", name, f"{name}-dev", name="Development daily", target="development",
                               retention_value=3, retention_unit="day")
        names.append(name)
    return names


def policy(planetscale: PlanetScaleState, database: str, suffix: str = "prod") -> dict[str, Any]:
    return planetscale.policies[("acme", database)][f"{database}-{suffix}"]


def thread(bot: Bot, message: SlackEvent) -> str:
    return "\n".join(json.dumps(e.blocks, ensure_ascii=False) + e.text for e in bot.slack.events
                     if e.kind == "message" and e.thread_ts == message.ts)


def shown(bot: Bot, message: SlackEvent) -> str:
    latest = [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")][-1]
    return json.dumps(latest.blocks, ensure_ascii=False)


def patched(planetscale: PlanetScaleState) -> list[str]:
    return [c.path for c in planetscale.calls("PATCH")]


def test_a_bulk_change_is_asked_once_approved_once_and_applied_to_each_database(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "shop", 3)
    reply = approvals_bot.command('update acme/shop-* * --where target=production retention=14d reason="audit"')
    assert "Checking each policy" in reply.ack_text
    [message] = channel_messages(approvals_bot)
    assert patched(planetscale) == []
    listed = thread(approvals_bot, message)
    for db in dbs:
        assert f"`{db}`" in listed
    assert "~2 days~ → *14 days*" in listed
    assert "Development daily" not in listed  # narrowed by --where
    assert "needs 1 approval" in reply.all_text()

    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert sorted(patched(planetscale)) == sorted(
        f"/organizations/acme/databases/{db}/backup-policies/{db}-prod" for db in dbs)
    for db in dbs:
        assert policy(planetscale, db)["retention_value"] == 14
        assert policy(planetscale, db, "dev")["retention_value"] == 3
    assert "Applied to 3 of 3" in shown(approvals_bot, message)
    applied = [e for e in approvals_bot.audit.all() if e.action == "applied"]
    assert sorted(e.database for e in applied) == dbs
    assert all(e.request_id for e in applied)
    assert "How each policy ended" in thread(approvals_bot, message)


def test_a_moved_target_a_planetscale_failure_and_a_guardrail_are_each_told_on_their_own(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "pay", 4)
    approvals_bot.use_rules(RULES.format(approvals=1) + '\n[[guardrails]]\norganizations = ["acme"]\n'
                            'databases = ["pay-04"]\nmin_retention = "30d"\n')
    approvals_bot.command('update acme/pay-* "Production daily" retention=14d')
    [message] = channel_messages(approvals_bot)
    assert "guardrail" in shown(approvals_bot, message) and "`pay-04`" in shown(approvals_bot, message)
    # Before the approval: one policy moves to development in the dashboard, PlanetScale refuses another's PATCH.
    policy(planetscale, dbs[0])["target"] = "development"
    planetscale.add_fault(Fault(status=403, method="PATCH", path_contains="/databases/pay-02/", times=None))

    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert patched(planetscale) == ["/organizations/acme/databases/pay-02/backup-policies/pay-02-prod",
                                    "/organizations/acme/databases/pay-03/backup-policies/pay-03-prod"]
    assert policy(planetscale, dbs[2])["retention_value"] == 14
    assert policy(planetscale, dbs[0])["retention_value"] == 2 and policy(planetscale, dbs[3])["retention_value"] == 2
    view = shown(approvals_bot, message)
    lines = {db: next(line for line in view.split("\\n") if f"`{db}`" in line) for db in dbs[:3]}
    assert "moved from production to development" in lines["pay-01"]
    assert "PlanetScale failed" in lines["pay-02"] and ":white_check_mark:" not in lines["pay-02"]
    assert ":white_check_mark: applied" in lines["pay-03"] and ":white_check_mark:" not in lines["pay-01"]
    assert "Applied to 1 of 3" in view and "2 not applied" in view
    assert "Retry the 2 not applied" in view
    assert "How each policy ended" in thread(approvals_bot, message)
    assert not reply.private or "Slack refused" not in reply.all_text()
    failed = {e.database: e.detail for e in approvals_bot.audit.all() if e.action == "failed"}
    assert set(failed) == {"pay-01", "pay-02"}

    planetscale.faults.clear()
    planetscale.dashboard_delete("acme", "pay-02", "pay-02-prod")  # gone before the retry: told, not lost
    approvals_bot.click(BULK_RETRY, button(latest(approvals_bot, message), BULK_RETRY), user=ALICE,
                        message=message)
    retried = channel_messages(approvals_bot)[-1]
    assert retried.ts != message.ts
    again = shown(approvals_bot, retried)
    assert "`pay-01`" in again and "`pay-03`" not in again
    assert "`pay-02` *policy pay-02-prod*: gone: it is no longer in PlanetScale" in again


def test_a_guardrail_tightened_after_the_request_refuses_its_policy_alone_when_it_applies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "tight", 3)
    approvals_bot.command('update acme/tight-* "Production daily" retention=14d')
    [message] = channel_messages(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=1) + '\n[[guardrails]]\norganizations = ["acme"]\n'
                            'databases = ["tight-02"]\nmin_retention = "30d"\n')
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert sorted(p.split("/")[4] for p in patched(planetscale)) == ["tight-01", "tight-03"]
    view = shown(approvals_bot, message)
    line = next(line for line in view.split("\\n") if "`tight-02`" in line)

    assert "rules or guardrails now refuse it" in line and "at least 30 days required" in line
    assert "`tight-01`" not in line
    assert policy(planetscale, dbs[1])["retention_value"] == 2


def test_a_database_added_after_the_request_is_not_changed_by_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    add_databases(planetscale, "grow", 2)
    approvals_bot.command("update acme/grow-* * --where target=production retention=14d")
    [message] = channel_messages(approvals_bot)
    [late] = add_databases(planetscale, "grow-late", 1)  # matches grow-* too
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert len(patched(planetscale)) == 2
    assert policy(planetscale, late)["retention_value"] == 2
    assert late not in shown(approvals_bot, message)
    assert "Applied to 2 of 2" in shown(approvals_bot, message)


def test_more_than_a_hundred_policies_are_refused_with_the_count_and_nothing_is_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_database("acme", "big-db")
    for n in range(101):
        planetscale.add_policy("acme", "big-db", f"big{n:03d}", name=f"Nightly {n}", target="development")
    reply = approvals_bot.command("update acme/big-db * retention=14d")
    assert "101 policies" in reply.all_text() and "at most 100" in reply.all_text()
    assert all(e in reply.private for e in reply.events if e.kind != "ack")
    assert channel_messages(approvals_bot) == []
    assert patched(planetscale) == []
    refused = [e for e in approvals_bot.audit.all() if e.action == "refused"]
    assert refused and "101" in str(refused[-1].detail)


def test_a_hundred_policies_fit_slacks_limits_the_rest_of_the_list_in_the_thread(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_database("acme", "wide-db")
    long = "Nightly backup of the customer ledger and every table beside it, kept for the auditors "
    for n in range(100):
        planetscale.add_policy("acme", "wide-db", f"wide{n:03d}", name=f"{long}{n}", target="development")
    approvals_bot.command("update acme/wide-db * retention=14d")  # Bot.send fails on anything Slack refuses
    [message] = channel_messages(approvals_bot)
    assert "Applied to 100 of 100" in shown(approvals_bot, message)  # development asks no approval
    replies = [e for e in approvals_bot.slack.events if e.thread_ts == message.ts]
    assert len(replies) >= 2
    listed = thread(approvals_bot, message)
    assert all(f"auditors {n}*" in listed for n in (0, 50, 99))


def test_a_selection_without_glob_characters_but_with_where_is_a_bulk_change(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = approvals_bot.command("update acme/app-db * --where target=development retention=5d --dry-run")
    text = reply.all_text()
    assert "Dry run" in text and "Development daily" in text and "Production daily" not in text
    assert patched(planetscale) == []
    assert channel_messages(approvals_bot) == []


def test_a_bad_where_is_answered_in_the_ack(approvals_bot: Bot) -> None:
    reply = approvals_bot.command("update acme/* * --where target=staging retention=5d")
    assert "is not a target" in reply.ack_text and "production or development" in reply.ack_text
    reply = approvals_bot.command("update a*/app-db * retention=5d")
    assert "one organization" in reply.ack_text


def test_two_approvals_clicked_together_on_two_instances_apply_each_policy_once(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "twin", 3)
    approvals_bot.command("update acme/twin-* * --where target=production retention=14d")
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    bodies = [(approvals_bot, approvals_bot.click_body(BULK_APPROVE, batch_id, user=CAROL, message=message)),
              (second_instance, second_instance.click_body(BULK_APPROVE, batch_id, user=LEAD2, message=message))]
    threads = [threading.Thread(target=bot.send, args=(body,)) for bot, body in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(patched(planetscale)) == sorted(
        f"/organizations/acme/databases/{db}/backup-policies/{db}-prod" for db in dbs)
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED
    members = approvals_bot.deps.store.batch_members(batch_id)
    assert len(members) == 3 and all(m.request.state is RequestState.APPLIED for m in members)
    assert len([e for e in approvals_bot.audit.all() if e.action == "applied"]) == 3


ANSWERS = st.sampled_from(["ok", "moved", "changed", "refused", "unavailable", "lost"])


@hypothesis_settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.lists(ANSWERS, min_size=1, max_size=5))
def test_whatever_each_policy_meets_the_others_are_applied_and_each_is_sent_at_most_once(
    approvals_bot: Bot, planetscale: PlanetScaleState, answers: list[str]
) -> None:
    prefix = f"h{next(_names)}"
    dbs = add_databases(planetscale, prefix, len(answers))
    approvals_bot.command(f"update acme/{prefix}-* * --where target=production retention=14d")
    message = channel_messages(approvals_bot)[-1]
    planetscale.clear_record()
    for db, answer in zip(dbs, answers, strict=True):
        where = f"/databases/{db}/"
        if answer == "moved":
            policy(planetscale, db)["target"] = "development"
        elif answer == "changed":
            policy(planetscale, db)["retention_value"] = 5
        elif answer == "refused":
            planetscale.add_fault(Fault(status=403, method="PATCH", path_contains=where))
        elif answer == "unavailable":
            planetscale.add_fault(Fault(status=503, method="PATCH", path_contains=where, times=None))
        elif answer == "lost":
            planetscale.add_fault(Fault(status=503, method="PATCH", path_contains=where, landed=True))
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    planetscale.faults.clear()
    sent = patched(planetscale)
    for db, answer in zip(dbs, answers, strict=True):
        path = f"/organizations/acme/databases/{db}/backup-policies/{db}-prod"
        assert sent.count(path) <= 1 or answer in ("unavailable", "lost")  # the client's own retries
        if answer in ("ok", "lost"):
            assert policy(planetscale, db)["retention_value"] == 14
        if answer in ("moved", "changed"):
            assert path not in sent
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None
    members = approvals_bot.deps.store.batch_members(batch.id)
    assert len(members) == len(answers)
    view = shown(approvals_bot, message)
    for member, answer in zip(members, answers, strict=True):
        state = member.request.state
        assert state is (RequestState.APPLIED if answer in ("ok", "lost") else RequestState.FAILED)
        assert f"`{member.request.database}`" in view


@hypothesis_settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(min_value=1, max_value=4), collided=st.integers(min_value=0, max_value=3),
       single_first=st.booleans())
def test_a_bulk_change_racing_a_single_change_on_another_instance_never_sends_from_a_stale_read(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState, count: int, collided: int,
    single_first: bool
) -> None:
    prefix = f"race{next(_names)}"
    dbs = add_databases(planetscale, prefix, count)
    target = dbs[collided % count]
    approvals_bot.command(f"update acme/{prefix}-* * --where target=production retention=14d")
    bulk = channel_messages(approvals_bot)[-1]
    second_instance.command(f"update acme/{target} {target}-prod retention=21d", user=ALICE)
    single = channel_messages(second_instance)[-1]
    single_id = next(el["value"] for b in single.blocks for el in b.get("elements", [])
                     if el.get("action_id") == "request_approve")
    planetscale.clear_record()
    clicks = [(approvals_bot, approvals_bot.click_body(BULK_APPROVE, button(bulk, BULK_APPROVE), user=CAROL,
                                                       message=bulk)),
              (second_instance, second_instance.click_body("request_approve", single_id, user=LEAD2,
                                                           message=single))]
    if single_first:
        clicks.reverse()
    threads = [threading.Thread(target=bot.send, args=(body,)) for bot, body in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = f"/organizations/acme/databases/{target}/backup-policies/{target}-prod"
    sent = [c for c in planetscale.calls("PATCH") if c.path == path]
    assert len(sent) == 1  # the one that read it first under the lease; the other saw it moved
    assert policy(planetscale, target)["retention_value"] in (14, 21)
    for db in dbs:
        if db != target:
            assert policy(planetscale, db)["retention_value"] == 14
    members = approvals_bot.deps.store.batch_members(button(bulk, BULK_APPROVE))
    [raced] = [m for m in members if m.request.database == target]
    single_request = approvals_bot.deps.store.get_request(single_id)
    assert single_request is not None
    states = {raced.request.state, single_request.state}
    assert states == {RequestState.APPLIED, RequestState.FAILED}
