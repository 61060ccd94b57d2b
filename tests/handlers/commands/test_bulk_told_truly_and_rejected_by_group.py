"""Bulk changes and the policies' whole life, through Bolt's signed pipeline on SQLite and PostgreSQL: posts and
updates Slack refused or answered late told truly and sent again by a later sweep, renames never giving two
policies one name, the longest names in the form, and rejections by each group's approvers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from approval_helpers import ALICE, CAROL, approvals_bot, direct_messages, sweep
from bulk_helpers import side_change
from conftest import Bot, answer_lost
from home_helpers import open_home
from test_bulk import add_databases, button, channel_messages, policy, shown, thread
from test_bulk_create_delete_outcomes_told import LEAD2, SPLIT_RULES

from bot.domain.audit import AuditEvent
from bot.domain.batches import BatchState
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault, SlackEvent
from handlers.bulk_blocks import BULK_APPROVE, BULK_REJECT
from handlers.views.bulk_edit import POLICIES

__all__ = ["approvals_bot"]  # fixtures, used by name


def events(bot: Bot, kind: str) -> list[SlackEvent]:
    return [e for e in bot.slack.events if e.kind == kind]


def test_a_bulk_change_asked_through_the_form_that_slack_refused_to_post_is_not_said_posted(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice asks a bulk change through the form in a channel the bot may not post in (a form has no response
    URL to fall back on). The form must not tell her it is posted in the channel, and her approvers must still
    be able to find it: else she waits for an approval nobody can see."""
    dbs = add_databases(planetscale, "unposted", 2)
    approvals_bot.command('edit acme/unposted-* "Production daily"', user=ALICE)
    form = approvals_bot.current_view()
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="not_in_channel", in_thread=False))
    approvals_bot.submit(form, {POLICIES: [f"{db}/{db}-prod" for db in dbs], "retention_value": "21",
                                "retention_unit": "day"}, user=ALICE)
    assert channel_messages(approvals_bot) == []
    said = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "is posted in the channel" not in said, said
    assert "Slack did not post your bulk change" in said, said
    assert "App Home" in said, said
    carols = json.dumps(open_home(approvals_bot, CAROL)["blocks"])
    assert "asks to change 2 backup policies of acme" in carols and "bulk_approve" in carols, carols


def test_a_bulk_rename_never_gives_two_policies_of_one_database_the_same_name(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice renames every development policy of `twin-*` to "Nightly" at once. A creation of a name the
    database already has is refused; a rename must be too, or the database ends with two policies of one
    name and `update`/`delete` by that name no longer finds either."""
    for db in ("twin-01", "twin-02"):
        planetscale.add_database("acme", db)
        for n in (1, 2):
            planetscale.add_policy("acme", db, f"{db}-dev{n}", name=f"Dev {n}", target="development")
    planetscale.add_policy("acme", "twin-02", "twin-02-old", name="Nightly", target="production")
    reply = approvals_bot.command('update acme/twin-* * --where target=development name="Nightly"', user=ALICE)
    for db in ("twin-01", "twin-02"):
        names = [p["name"] for p in planetscale.policies[("acme", db)].values()]
        assert names.count("Nightly") <= 1, f"{db}: {names}"
    assert "already has a policy named" in reply.all_text() + json.dumps(
        [e.blocks for e in approvals_bot.slack.events], ensure_ascii=False)


def test_a_bulk_change_whose_post_slack_answers_late_is_still_told_to_its_requester(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice's bulk change to development policies applies at once; Slack takes the channel message but answers
    after the bot stopped waiting. She must not hear "Something went wrong" about a change that was applied,
    and how each policy ended must still reach her."""
    dbs = add_databases(planetscale, "late", 2)
    with answer_lost(approvals_bot, "chat.postMessage", in_thread=False):
        reply = approvals_bot.command('update acme/late-* "Development daily" retention=5d', user=ALICE)
    assert len(events(approvals_bot, "message")) >= 2  # the late request, and the DM
    assert all(policy(planetscale, db, "dev")["retention_value"] == 5 for db in dbs)
    told = " ".join(e.text for e in reply.events if e.kind == "response")
    assert "Something went wrong" not in told, told
    sweep(approvals_bot)
    dms = " ".join(direct_messages(approvals_bot, ALICE))
    assert "Your bulk change" in dms and "Applied to 2 of 2" in dms, f"alice never hears how it ended: {told!r} {dms!r}"


def test_an_approval_whose_message_update_slack_answers_late_is_told_truly_and_finished(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves a bulk change; each policy is applied; Slack then answers the update of its message after
    the bot stopped waiting. carol must not hear "nothing more was done" about policies that were changed, and
    the thread and alice's DM must still tell how each ended."""
    dbs = add_databases(planetscale, "slow", 2)
    approvals_bot.command('update acme/slow-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    with answer_lost(approvals_bot, "chat.update"):
        reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert events(approvals_bot, "update")
    assert all(policy(planetscale, db)["retention_value"] == 14 for db in dbs)
    told = " ".join(e.text for e in reply.events if e.kind == "response")
    assert "nothing more was done" not in told, told
    assert "How each policy ended" in thread(approvals_bot, message)
    assert "Applied to 2 of 2" in " ".join(direct_messages(approvals_bot, ALICE))


def test_a_bulk_request_whose_thread_reply_slack_answers_late_is_told_truly(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The request is posted; Slack answers its list in the thread after the bot stopped waiting. alice must
    hear that it waits for approval, not that something went wrong and nothing more was done."""
    add_databases(planetscale, "slowthread", 2)
    with answer_lost(approvals_bot, "chat.postMessage", in_thread=True):
        reply = approvals_bot.command('update acme/slowthread-* "Production daily" retention=14d', user=ALICE)
    assert len(events(approvals_bot, "message")) >= 2  # the request and its list in the thread
    told = " ".join(e.text for e in reply.events if e.kind == "response")
    assert "Something went wrong" not in told and "needs 1 approval" in told, told


def test_a_patch_answered_with_garbage_is_sent_once_and_its_policy_told_as_planetscale_holds_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Held: PlanetScale carries out one member's PATCH and answers it with a page that is not JSON. The others are
    applied; that one is never sent again, and the thread ends up telling it as PlanetScale holds it."""
    dbs = add_databases(planetscale, "junk", 3)
    planetscale.add_fault(Fault(status=502, method="PATCH", path_contains="/junk-02/", landed=True,
                                body="<html>upstream error</html>"))
    approvals_bot.command('update acme/junk-* "Development daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert all(policy(planetscale, db, "dev")["retention_value"] == 5 for db in dbs)
    for _ in range(3):
        sweep(approvals_bot)
    assert len(planetscale.calls("PATCH")) == 3
    ended = thread(approvals_bot, message)
    assert "How each policy ended" in ended and ended.count("applied") >= 3, ended
    assert "Applied to 3 of 3" in " ".join(direct_messages(approvals_bot, ALICE))


def test_the_requesters_direct_message_slack_refused_once_is_sent_by_a_later_sweep(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The bulk change applies at once; its message and thread are posted; Slack refuses the direct message
    telling alice how it ended, once. A later sweep must send it, as it posts a thread reply Slack refused."""
    add_databases(planetscale, "nodm", 2)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=False, skip=1))
    approvals_bot.command('update acme/nodm-* "Development daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert "How each policy ended" in thread(approvals_bot, message)
    assert direct_messages(approvals_bot, ALICE) == []
    sweep(approvals_bot)
    sweep(approvals_bot)
    dms = direct_messages(approvals_bot, ALICE)
    assert len(dms) == 1 and "Applied to 2 of 2" in dms[0], dms


def test_a_bulk_changes_entry_the_audit_channel_refused_once_is_posted_by_a_later_sweep(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The audit channel is where the team reads what changed: an entry Slack refused once is posted by a later
    sweep, once, as a single change's is not lost either."""
    approvals_bot.deps.audit_channel = "C0RANDOM01"
    add_databases(planetscale, "noaudit", 2)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=False, skip=2))
    approvals_bot.command('update acme/noaudit-* "Development daily" retention=5d', user=ALICE)
    audit = [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == "C0RANDOM01"]
    assert audit == []
    sweep(approvals_bot)
    sweep(approvals_bot)
    audit = [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == "C0RANDOM01"]
    assert len(audit) == 1, "the bulk change never reaches the audit channel"


def test_a_policy_created_through_the_form_that_slack_refused_to_post_is_not_said_posted(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice creates a development policy through the form in a channel the bot may not post in: it is made at
    once. The form must not tell her the result is posted in the channel, where nobody will find it."""
    approvals_bot.command("create acme/app-db", user=ALICE)
    approvals_bot.submit(approvals_bot.current_view(), {"name": "Nightly", "retention_value": "14"}, user=ALICE)
    confirm = approvals_bot.current_view()
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="not_in_channel", in_thread=False))
    approvals_bot.submit(confirm, {}, user=ALICE)
    assert [c.body["name"] for c in planetscale.calls("POST")] == ["Nightly"]
    said = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "is posted in the channel" not in said and "posted in the channel" not in said.replace(
        "could not be posted in the channel", ""), said


def test_the_bulk_form_opens_for_a_policy_name_of_the_longest_length_in_any_script(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A policy's name may be 255 characters of any script. `edit acme/emoji-* "<that name>"` must open the form
    listing it: the form keeps what was asked in its private metadata, which Slack bounds at 3000 characters."""
    name = "\N{GRINNING FACE}" * 255
    for db in ("emoji-01", "emoji-02"):
        planetscale.add_database("acme", db)
        planetscale.add_policy("acme", db, f"{db}-dev", name=name, target="development")
    approvals_bot.command(f'edit acme/emoji-* "{name}"', user=ALICE)
    form = approvals_bot.current_view()
    assert approvals_bot.slack.refusals == [], approvals_bot.slack.refusals
    assert form["callback_id"] == "bulk_edit_form", json.dumps(form, ensure_ascii=False)[:500]
    approvals_bot.submit(form, {POLICIES: ["emoji-01/emoji-01-dev", "emoji-02/emoji-02-dev"],
                                "retention_value": "9", "retention_unit": "day"}, user=ALICE)
    assert approvals_bot.slack.refusals == [], approvals_bot.slack.refusals
    assert [policy(planetscale, db, "dev")["retention_value"] for db in ("emoji-01", "emoji-02")] == [9, 9]


def test_a_bulk_change_outside_the_bots_channels_is_not_posted_again_by_every_sweep(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The bot may not post in the channel: the request goes through the response URL, and carol's Approve on
    that message tells the bot its ts. No thread can ever be posted there: each sweep must not try again and
    again, forever, to reply in a channel that refuses the bot."""
    add_databases(planetscale, "outside", 2)
    for method in ("chat.postMessage", "chat.update"):
        approvals_bot.slack.add_fault(MethodFault(method, error="not_in_channel", times=None, channel="C0DBAOPS01"))
    approvals_bot.command('update acme/outside-* "Production daily" retention=14d', user=ALICE)
    [posted] = [e for e in approvals_bot.slack.events if e.kind == "response" and e.response_type == "in_channel"
                and "bulk_approve" in json.dumps(e.blocks)]
    message = replace(posted, kind="message", channel="C0DBAOPS01", ts="1700000000.000100")
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert len(planetscale.calls("PATCH")) == 2
    sweep(approvals_bot)
    tried = len(approvals_bot.slack.method_calls("chat.postMessage"))
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert len(approvals_bot.slack.method_calls("chat.postMessage")) == tried, "every sweep posts again"


def test_an_approver_of_one_database_does_not_reject_a_bulk_changes_policies_of_another(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    batch_id, message = side_change(approvals_bot, planetscale, SPLIT_RULES)
    approvals_bot.click(BULK_REJECT, batch_id, user=LEAD2, message=message)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert planetscale.policies[("acme", "side-a")]["side-a-prod"]["retention_value"] == 14
    assert planetscale.policies[("acme", "side-b")]["side-b-prod"]["retention_value"] == 2


def test_a_rejection_by_one_groups_approver_leaves_the_other_group_to_its_own_approvers(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """lead 2 rejects alice's bulk change: side-b's policy is out, recorded as rejected by lead 2, and the message
    says so while side-a's still waits for carol. carol approves: side-a's policy alone is sent, once."""
    batch_id, message = side_change(approvals_bot, planetscale, SPLIT_RULES)
    approvals_bot.click(BULK_REJECT, batch_id, user=LEAD2, message=message)
    said = shown(approvals_bot, message)
    assert f"rejected by <@{LEAD2}>" in said and "still needed from" in said and "<@U0CAROL001>" in said, said
    rejected = [e for e in approvals_bot.audit.all() if e.action == "rejected"]
    assert [(e.actor, e.database) for e in rejected] == [(LEAD2, "side-b")]
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert [c.path for c in planetscale.calls("PATCH")] == [
        "/organizations/acme/databases/side-a/backup-policies/side-a-prod"]
    assert planetscale.policies[("acme", "side-b")]["side-b-prod"]["retention_value"] == 2
    applied = [e.database for e in approvals_bot.audit.all() if e.action == "applied"]
    assert applied == ["side-a"]


def test_one_who_may_approve_no_group_left_is_refused_to_them_alone(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Once lead 2 rejected side-b, a second Reject by lead 2 finds nothing of theirs left: they hear why,
    and side-a still waits for carol."""
    batch_id, message = side_change(approvals_bot, planetscale, SPLIT_RULES)
    approvals_bot.click(BULK_REJECT, batch_id, user=LEAD2, message=message)
    reply = approvals_bot.click(BULK_REJECT, batch_id, user=LEAD2, message=message)
    told = [e.text for e in reply.private]
    assert len(told) == 1 and "You may not approve" in told[0] and "side-a" in told[0], told
    assert [e.text for e in reply.public] == []
    assert [e.actor for e in approvals_bot.audit.all() if e.action == "rejected"] == [LEAD2]
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert planetscale.policies[("acme", "side-a")]["side-a-prod"]["retention_value"] == 14


def test_a_rejection_of_the_group_still_waiting_applies_the_group_already_approved(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves side-a's policy, which then waits only for side-b's. lead 2 rejects side-b's: side-a's
    has all it needs, and is sent at once; nothing is sent for side-b's, and carol rejecting now finds it closed."""
    batch_id, message = side_change(approvals_bot, planetscale, SPLIT_RULES)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    approvals_bot.click(BULK_REJECT, batch_id, user=LEAD2, message=message)
    assert [c.path for c in planetscale.calls("PATCH")] == [
        "/organizations/acme/databases/side-a/backup-policies/side-a-prod"]
    said = shown(approvals_bot, message)
    assert f"Rejected* by <@{LEAD2}> for 1 policy" in said, said
    reply = approvals_bot.click(BULK_REJECT, batch_id, user=CAROL, message=message)
    assert "already approved" in " ".join(e.text for e in reply.private)
    assert len(planetscale.calls("PATCH")) == 1


def test_a_bulk_approval_written_in_its_life_and_judged_after_it_does_not_apply_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol's approval of alice's bulk change is written a moment before it expires; judging it takes a while,
    and its life ends before it is approved: the move to approved checks the life in the same write, as a
    request's does, and the bulk change is closed as expired, with nothing sent."""
    batch_id, message = side_change(approvals_bot, planetscale, SPLIT_RULES)
    approvals_bot.click(BULK_APPROVE, batch_id, user=LEAD2, message=message)
    store = approvals_bot.deps.bulk.store
    batch = store.get_batch(batch_id)
    assert batch is not None
    now = [batch.expires_at - 1]
    approvals_bot.deps.bulk.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    real_add = store.add_batch_approval

    def judged_slowly(batch_id: str, approver: str, records: Sequence[AuditEvent] = ()) -> list[str] | None:
        added = real_add(batch_id, approver, records)
        now[0] += 5  # judging took five seconds: the bulk change's life is over
        return added

    store.add_batch_approval = judged_slowly  # type: ignore[method-assign]
    try:
        reply = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    finally:
        store.add_batch_approval = real_add  # type: ignore[method-assign]
    latest = store.get_batch(batch_id)
    assert latest is not None and latest.state is BatchState.EXPIRED, latest and latest.state
    assert planetscale.calls("PATCH") == []
    assert "expired" in reply.all_text()
