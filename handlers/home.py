"""The App Home: for the person opening it, the requests waiting for their approval (Approve / Reject), their
own open requests (Cancel), the latest changes to policies they may see, and what the rules let them change.

Published when they open it (`app_home_opened`) and again for everyone a request concerns (its requester and
the approvers who could act) who opened it lately, whenever it is made, decided or expires, from whichever
instance saw the step: each publish is built from the shared database, so the last one shows the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, DividerBlock

from bot.adapters.slack_shapes import UnreadableAnswer, error_of, refused_with
from bot.domain.access_rules import Action
from bot.domain.batches import Batch, BatchOutcomeKind
from bot.domain.change_requests import ChangeRequest
from bot.domain.changes import OutcomeKind, after_values, group_progress
from bot.domain.group_directory import DirectoryError
from bot.domain.policy import BackupPolicy
from handlers import blocks, bulk_blocks, channel_history
from handlers.dependencies import Dependencies

log = logging.getLogger(__name__)

MAX_HOME_BLOCKS = blocks.MAX_VIEW_BLOCKS
WAITING_SHOWN = 10  # each request takes up to four blocks: the whole Home at most 98 of its 100
OWN_SHOWN = 8
CHANGES_SHOWN = 10
CHANGES_READ_AT_MOST = 1600  # applied changes read back for one Home, newest first
RULES_SHOWN = 10
BATCHES_SHOWN = 5  # two blocks each
# Where what the Home leaves out is: `pending` lists more of them, and each is in its channel.
HOME_REST = (f"`/backup-policy pending` lists the oldest {blocks.MAX_PENDING_SHOWN}. {blocks.PENDING_REST}")


# The steps whose answer on the Home is news, not a warning: as the response URL answers them.
DONE: frozenset[OutcomeKind | BatchOutcomeKind] = frozenset({
    OutcomeKind.APPLIED, OutcomeKind.COUNTED, OutcomeKind.REJECTED, OutcomeKind.CANCELLED, BatchOutcomeKind.DONE,
    BatchOutcomeKind.COUNTED, BatchOutcomeKind.REJECTED, BatchOutcomeKind.PART_REJECTED, BatchOutcomeKind.CANCELLED})


def home_view(deps: Dependencies, user: str, notice: str | None = None,
              notice_kind: OutcomeKind | BatchOutcomeKind | None = None) -> dict[str, Any]:
    """`notice`, the answer to a step taken on the Home, shown above it: a warning unless `notice_kind` is done."""
    pending = deps.changes.pending_for(user, max(WAITING_SHOWN, OWN_SHOWN))
    waiting, own = pending.waiting[:WAITING_SHOWN], pending.own[:OWN_SHOWN]
    approvals = deps.store.approvers_by_request([r.id for r in waiting + own])
    result: list[Block] = []
    if notice:
        result.append(blocks.section(blocks.slack_text(notice) if notice_kind in DONE
                                     else blocks.error_text(notice)))
    result.append(blocks.header("Waiting for your approval"))
    result += _requests(deps, waiting, user, approvals) or [blocks.context("Nothing waits for you.")]
    if pending.waiting_total > len(waiting):
        result.append(blocks.not_shown(pending.waiting_total - len(waiting), HOME_REST))
    result.append(blocks.header("Your open requests"))
    result += _requests(deps, own, user, approvals) or [blocks.context("You have no open requests.")]
    if pending.own_total > len(own):
        result.append(blocks.not_shown(pending.own_total - len(own), HOME_REST))
    batches = deps.bulk.pending_for(user)
    if batches:  # those waiting for this person and their own, as `/backup-policy pending` lists them
        result.append(blocks.header("Bulk changes you can act on"))
        result += bulk_blocks.batch_entries(batches, user, BATCHES_SHOWN, "home")
    result.append(blocks.header("Latest changes you may see"))
    visible, searched = _visible_changes(deps, user)
    changes = [blocks.history_line(e) for e in visible]
    if changes or searched:
        result += blocks.packed(changes, room=3)[0]
    else:
        result.append(blocks.context("No change applied yet."))
    if searched:  # stopped at the bound: older changes the person may see are left unread, not denied
        result.append(blocks.context(f"{'Nothing else' if changes else 'Nothing'} you may see among the newest "
                                     f"{searched:,} applied changes: `backup-bot audit export` has the full trail."))
    result.append(blocks.header("What you may change"))
    rules = _capabilities(deps, user)
    shown, left_out = blocks.packed(rules, room=2)
    result += shown + ([blocks.not_shown(left_out)] if left_out else []) if rules else [
        blocks.context("No access rule lets you change a policy; ask whoever keeps the bot's access file.")]
    return {"type": "home", "blocks": blocks.to_dicts(result[:MAX_HOME_BLOCKS], MAX_HOME_BLOCKS)}


def _requests(deps: Dependencies, requests: list[ChangeRequest], user: str,
              approvals: dict[str, list[str]]) -> list[Block]:
    shown: list[Block] = []
    for request in requests:
        try:
            shown += _request_entry(deps, request, user, approvals[request.id])
        except Exception:  # one request holding what no message can show hides no other
            log.exception("request %s could not be shown on the Home; it is left out", request.id)
    return shown


def _request_entry(deps: Dependencies, request: ChangeRequest, user: str, approvals: list[str]) -> list[Block]:
    before = BackupPolicy.model_validate(request.before)
    approved_by = deps.changes.counted_approvers(request, approvals)  # those that still count
    lines = [f"{blocks.request_headline(request)} (in <#{request.channel}>)",
             blocks.what_changes(request, before, after_values(request))]
    groups = progress_by_group(deps, request, approved_by)
    lines.append(blocks.groups_line(groups) if groups else
                 f"*Approvals:* {len(approved_by)} of {request.approvals_needed}")
    # Two sections where a long name fills most of one: what the request changes is never left out.
    entry = blocks.packed(lines, room=2)[0]
    if request.requester == user:
        buttons = [ButtonElement(text="Cancel", action_id=blocks.CANCEL, value=request.id)]
    else:
        buttons = [ButtonElement(text="Approve", action_id=blocks.APPROVE, value=request.id, style="primary"),
                   blocks.reject_button(request)]
    return [*entry, ActionsBlock(block_id=f"home:{request.id}", elements=buttons), DividerBlock()]


def progress_by_group(deps: Dependencies, request: ChangeRequest,
                      approved_by: list[str]) -> blocks.GroupProgress | None:
    """What each group gave and owes, for a request asking approvals from several; None while Slack cannot say
    who is in which group (the count of approvals still shows)."""
    if not request.approvals_from:
        return None
    try:
        progress = group_progress(request, approved_by, lambda a, g: deps.access.groups.is_named(a, [g]))
        # As an ID, a group can be mentioned (Slack shows its handle).
        return [(deps.access.groups.resolve(group), count, counted) for group, count, counted in progress]
    except DirectoryError:
        return None


def _visible_changes(deps: Dependencies, user: str) -> tuple[list[Any], int | None]:
    """Applied changes to policies this person may see where each was made, before and after the change; and how
    many of the newest were read when older ones were left unread (None: none were)."""
    # Most people see most changes: the newest few are read first, and further back (judged again from the newest,
    # as changes may have been made in between) only while those they may not see fill the list, within a bound.
    # Each place and target is judged once, however many changes were made there.
    decided: dict[tuple[str, str, tuple[str, ...], str], bool] = {}

    def may_see(event: Any) -> bool:
        targets = tuple(str(t) for t in ((event.before or {}).get("target"), (event.after or {}).get("target")) if t)
        key = (event.organization, event.database, targets, event.channel or "")
        if key not in decided:
            decided[key] = bool(targets) and deps.access.decided(user, Action.READ, *key[:2], list(targets),
                                                                 key[3]).allowed
        return decided[key]

    read = 3 * CHANGES_SHOWN
    while True:
        events = deps.store.latest_of(["applied"], limit=read)
        seen = [event for event in events if may_see(event)][:CHANGES_SHOWN]
        if len(seen) == CHANGES_SHOWN or len(events) < read or read >= CHANGES_READ_AT_MOST:
            return seen, read if len(seen) < CHANGES_SHOWN and len(events) >= read else None
        read = min(read * 4, CHANGES_READ_AT_MOST)


def _capabilities(deps: Dependencies, user: str) -> list[str]:
    """The rules that let this person change policies, in words, wherever their channels are."""
    capabilities, unchecked = deps.access.capabilities_checked(user, None)
    found = []
    for capability in capabilities:
        if capability.may_change:
            channels = capability.rule.channels
            where = f" — in {', '.join(f'<#{c}>' for c in channels)}" if channels else ""
            found.append(f"• {blocks.escape(capability.describe())}{where}")
    if len(found) > RULES_SHOWN:
        found[RULES_SHOWN:] = [f"• …and {len(found) - RULES_SHOWN} more rules: `/backup-policy help` in a channel "
                               "says what you may do there."]
    if unchecked is not None:  # the rules that name them through a group only are left out, and said so
        found.append(f"• Your access through user groups could not be checked just now: {blocks.escape(unchecked)}.")
    return found


def publish_home(deps: Dependencies, client: WebClient, user: str, notice: str | None = None,
                 notice_kind: OutcomeKind | BatchOutcomeKind | None = None) -> str | None:
    """Publishes `user`'s Home; Slack's error where it refused it (logged), else None. Nothing of Slack's answer is
    read: an `ok` answer of any shape is the Home published."""
    return _published(client, user, home_view(deps, user, notice, notice_kind))


def _published(client: WebClient, user: str, view: dict[str, Any]) -> str | None:
    """Publishes `view` as `user`'s Home; Slack's error where it refused it (logged), else None. An answer Slack
    gave that cannot be read (it may have published) is not a refusal: the same view is published again, once,
    and kept as published whatever that answer is."""
    for again in (False, True):
        try:
            client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            return _refused(user, exc)
        except UnreadableAnswer:
            log.warning("Slack answered views.publish for the App Home of %s with an answer the bot cannot read; %s",
                        user, "taken as published" if again else "published again")
            continue
        return None
    return None


def answer_on_home(deps: Dependencies, client: WebClient, user: str, notice: str,
                   notice_kind: OutcomeKind | BatchOutcomeKind | None = None) -> None:
    """The answer to a click on the Home, at its top; where Slack will not publish the Home, in the bot's direct
    message with the clicker: a click answered nowhere leaves them thinking it was done."""
    if publish_home(deps, client, user, notice, notice_kind) is not None:
        _answer_directly(client, user, blocks.slack_text(notice) if notice_kind in DONE else blocks.error_text(notice))


def publish_warning(deps: Dependencies, client: WebClient, user: str, message: str) -> None:
    """A step's failure, told on the Home of whoever took it there. The Home is built from the database: where it
    cannot be (the database not answering, as the step may have failed for), the warning is shown alone."""
    try:
        view = home_view(deps, user, message)
    except Exception:
        log.exception("the App Home of %s could not be built; the warning is shown on a Home of its own", user)
        view = {"type": "home", "blocks": blocks.to_dicts([blocks.section(blocks.error_text(message))])}
    if _published(client, user, view) is not None:
        _answer_directly(client, user, blocks.error_text(message))


def _answer_directly(client: WebClient, user: str, text: str) -> None:
    try:
        channel_history.post_directly(client, user, text, what="the answer to a click on the Home")
    except (SlackApiError, OSError) as exc:
        log.error("could not tell %s the answer to their click on the Home in a direct message either: %s", user,
                  error_of(exc))


def _refused(user: str, exc: SlackApiError) -> str:
    error = refused_with(exc.response)
    log.error("could not publish the App Home of %s: Slack answered views.publish with %s", user, error)
    return error


def open_home(deps: Dependencies, client: WebClient, user: str) -> None:
    """The Home its person has just opened. Where Slack refused it, a short Home saying so takes its place: the
    person is not left before an empty or old one."""
    error = publish_home(deps, client, user)
    if error is not None:
        _answer_on_home(deps, client, user, f"Your Home could not be shown just now (Slack answered `{error}`). "
                                            "Open it again in a moment; if this stays, tell the bot's admins.")


def concerned(deps: Dependencies, request: ChangeRequest | Batch) -> list[str]:
    """Whose Home shows this request or bulk change: its requester and everyone its approvers name (groups as
    members)."""
    people = [request.requester]
    for principal in request.approvers:
        try:
            members = deps.access.groups.members(principal) if principal[:1] in "@S" else {principal}
        except DirectoryError:
            continue
        people += sorted(members)
    return list(dict.fromkeys(people))


def refresh_homes(deps: Dependencies, client: WebClient, request: ChangeRequest | Batch,
                  but: str | None = None) -> None:
    """The Homes of everyone `request` concerns (`but` one) who opened theirs lately, published again soon, once
    each."""
    if not deps.home_viewers.recent_any():
        return
    publish_later(deps, client, deps.home_viewers.recent(user for user in concerned(deps, request) if user != but))


def publish_later(deps: Dependencies, client: WebClient, users: Iterable[str]) -> None:
    if deps.homes_due.add(users):
        try:
            deps.background.run(_publish_due, deps, client)
        except RuntimeError:
            # Shutting down: the executor takes no new work, but the step that asked (acked work, finishing)
            # still runs; it publishes them itself, or nobody ever would (nor any Home after, while marked).
            _publish_due(deps, client)


def _publish_due(deps: Dependencies, client: WebClient) -> None:
    # Built from the database when its turn comes: a step made meanwhile is shown by this publish, or marks
    # the Home due again for the next.
    while (user := deps.homes_due.take()) is not None:
        try:
            publish_home(deps, client, user)
        except Exception:
            log.exception("could not build the App Home of %s", user)


def on_home_opened(deps: Dependencies, event: dict[str, Any], client: WebClient) -> None:
    if event.get("tab", "home") != "home":
        return
    user = str(event.get("user") or "")
    deps.home_viewers.opened(user)
    deps.background.run_answered(partial(_answer_on_home, deps, client, user), open_home, deps, client, user)


def _answer_on_home(deps: Dependencies, client: WebClient, user: str, message: str) -> None:
    _published(client, user, {"type": "home", "blocks": blocks.to_dicts([blocks.section(blocks.error_text(message))])})


def register(app: App, deps: Dependencies) -> None:
    app.event("app_home_opened")(partial(on_home_opened, deps))
