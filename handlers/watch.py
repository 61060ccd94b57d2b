"""What the watch tells the audit channel: a change made outside the bot (with a Revert button that asks the
inverse change through the change path), and a policy's backups failing or recovering."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot.adapters.rate_limit import retry_after_seconds
from bot.domain.changes import unknown_button
from bot.domain.policy import BackupPolicy
from bot.domain.watch_skips import Skipped
from bot.domain.watch_state import Notice, NoticeKind
from handlers import blocks, channel_history
from handlers.actions.requests import clicked_in, in_no_channel, tell
from handlers.asked import report_change
from handlers.dependencies import Dependencies

log = logging.getLogger(__name__)
REVERT_OUTSIDE = "watch_revert"


def notice_headline(notice: Notice) -> str:
    name = blocks.literal(notice.policy_name, blocks.MAX_NAME_IN_LINE)
    where = f"the backup policy *{name}* of *{notice.organization}/{notice.database}*"
    if notice.kind is NoticeKind.DRIFT:
        return f":eyes: Changed outside the bot: {where}"
    if notice.kind is NoticeKind.CREATED:
        return f":new: Created outside the bot: {where}"
    if notice.kind is NoticeKind.DELETED:
        return f":wastebasket: Deleted outside the bot: {where}"
    if notice.kind is NoticeKind.UNHEALTHY:
        return f":rotating_light: Backups in trouble: {where}"
    return f":white_check_mark: Backups healthy again: {where}"


def notice_blocks(notice: Notice) -> list[dict[str, Any]]:
    result: list[Block] = [blocks.section(notice_headline(notice))]
    if notice.kind is NoticeKind.DRIFT and notice.before and notice.after:
        result.append(blocks.section(blocks.changes_text_between(BackupPolicy.model_validate(notice.before),
                                                                 notice.after)))
        broken = notice.detail.partition("; breaks ")[2]
        if broken:
            result.append(blocks.section(f"*Breaks:* {blocks.fit(blocks.escape(broken), 2900)}"))
        result.append(ActionsBlock(block_id=f"drift:{notice.id}", elements=[
            ButtonElement(text="Revert", action_id=REVERT_OUTSIDE, value=notice.id,
                          confirm=blocks.revert_confirm(notice.policy_name, notice.after, notice.before,
                                                        outside=True))]))
        result.append(blocks.context("Not made through the bot, so nobody approved it here. Revert asks the "
                                     "inverse change under the access rules, guardrails and approvals."))
    elif notice.kind in (NoticeKind.CREATED, NoticeKind.DELETED):
        state = notice.after if notice.kind is NoticeKind.CREATED else notice.before
        result.append(blocks.section(f"*{'Its schedule' if notice.after else 'It kept'}:* {schedule_of(state)}"))
        broken = notice.detail.partition("; breaks ")[2]
        if broken:
            result.append(blocks.section(f"*Breaks:* {blocks.fit(blocks.escape(broken), 2900)}"))
        result.append(blocks.context("Not made through the bot, so nobody approved it here. "
                                     f"`/backup-policy list {notice.organization}/{notice.database}` shows the "
                                     "policies as they are now."))
    else:
        result.append(blocks.section(blocks.fit(blocks.with_mentions(notice.detail), 2900)))
        result.append(blocks.context(f"`/backup-policy status {notice.organization}/{notice.database}` shows "
                                     "every policy's backups."))
    return blocks.to_dicts(result)


def schedule_of(values: dict[str, Any] | None) -> str:
    """A policy's schedule in words, from the values the watch kept; what could be read of it otherwise."""
    try:
        policy = BackupPolicy.model_validate(values or {})
    except ValueError:
        return "(its last state could not be read)"
    return f"{blocks.schedule_text(policy)} ({blocks.escape(str(policy.target))})"


# Slack's errors about a message's own content.
REFUSED_CONTENT = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_arguments",
                             "no_text"})


# The message metadata a notice is posted with: its ID, so that a second try can find whether Slack took the first.
NOTICE_EVENT = "backup_bot_watch_notice"
def notice_metadata(notice: Notice) -> dict[str, Any]:
    return {"event_type": NOTICE_EVENT, "event_payload": {"notice_id": notice.id}}


def posted_before(deps: Dependencies, client: WebClient, notice: Notice) -> bool | None:
    """Whether the audit channel already holds this notice, looked up since the notice was made."""
    return channel_history.posted_before(client, str(deps.audit_channel), notice.created_at, NOTICE_EVENT,
                                         "notice_id", notice.id, f"notice {notice.id}")


def _post_plainly(deps: Dependencies, client: WebClient, notice: Notice, error: str) -> bool:
    text = (f":warning: The watch found something ({notice.kind.value}) about policy "
            f"`{blocks.fit(blocks.escape(notice.policy_id), 200)}` of *{notice.organization}/{notice.database}* that "
            f"could not be shown ({error}); the audit trail holds it: `/backup-policy history "
            f"{notice.organization}/{notice.database}`.")
    try:
        client.chat_postMessage(channel=str(deps.audit_channel), text=text, metadata=notice_metadata(notice))
    except (SlackApiError, OSError) as exc:
        log.error("could not post the watch's notice plainly either: %s", type(exc).__name__)
        return False
    return True


class Why(list[str]):
    """Why a notice was not posted; `retry_after`: the seconds Slack asked to wait when it rate limited the post
    (nothing was posted then, so the same post may be made once they are out)."""
    retry_after: float | None = None


def post_notice(deps: Dependencies, client: WebClient, notice: Notice, tried: bool = False,
                why: list[str] | None = None) -> bool:
    """Post one notice to the audit channel; False when Slack did not take it (it is posted next time), and why
    appended to `why` (a `Why` is also told the wait Slack asked for). One `tried` before is looked for first, and
    not posted again if Slack holds it."""
    why = [] if why is None else why
    if not deps.audit_channel:
        log.info("watch: %s (%s/%s %s); set BACKUP_BOT_AUDIT_CHANNEL to have it posted", notice.detail,
                 notice.organization, notice.database, notice.policy_id)
        return True
    if tried:
        found = posted_before(deps, client, notice)
        if found is None:
            why.append("Slack's history of the channel could not be read")
            return False
        if found:
            log.info("notice %s was posted by an earlier try; not posted again", notice.id)
            return True
    try:
        shown = notice_blocks(notice)
    except (ValueError, KeyError, TypeError) as exc:  # a state kept by an earlier version, or read oddly
        log.error("the watch's notice %s cannot be shown (%s); told plainly", notice.id, type(exc).__name__)
        return _post_plainly(deps, client, notice, "its state could not be read")
    try:
        client.chat_postMessage(channel=deps.audit_channel, text=notice_headline(notice), blocks=shown,
                                metadata=notice_metadata(notice))
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.error("could not post the watch's notice to %s: %s", deps.audit_channel, error)
        if error in REFUSED_CONTENT:
            # This notice's own content, not Slack failing: it would be refused each pass and hold up the rest.
            # Its audit entry is kept; the channel is told where to find it.
            return _post_plainly(deps, client, notice, str(error))
        why.append(f"Slack answered {error}")
        if isinstance(why, Why) and exc.response.status_code == 429:
            why.retry_after = retry_after_seconds(exc.response.headers.get("retry-after"))
        return False
    except OSError as exc:
        log.error("could not post the watch's notice to %s: %s", deps.audit_channel, type(exc).__name__)
        why.append(f"Slack could not be reached ({type(exc).__name__})")
        return False
    return True


SKIPPED_HEADLINE = ":warning: The watch skipped what it could not judge"


def skipped_blocks(skipped: list[Skipped]) -> list[dict[str, Any]]:
    # What was skipped names text from PlanetScale (a policy ID, a branch): shown as written, never as markup.
    room = 2900 - len(f"\n…and {len(skipped)} more: `/healthz` lists them all.")
    lines: list[str] = []
    used = 0
    for item in skipped:
        what = blocks.literal(item.what, blocks.MAX_NAME_IN_LINE)
        line = blocks.fit(f"• {what}: {blocks.with_mentions(item.reason)}", 600)
        if used + len(line) > room:
            break
        lines.append(line)
        used += len(line) + 1
    if len(lines) < len(skipped):  # whole lines only, and how many more, never a list cut off without a word
        lines.append(f"…and {len(skipped) - len(lines)} more: `/healthz` lists them all.")
    return blocks.to_dicts([
        blocks.section(SKIPPED_HEADLINE),
        blocks.section("\n".join(lines)),
        blocks.context("The rest was watched as usual; these are tried again each pass and told again only once "
                       "fixed and broken anew. `/healthz` lists them too."),
    ])


# The message metadata a skipped list is posted with: its items' digest, so that a try after one whose answer was
# lost can find whether Slack took it.
SKIPPED_EVENT = "backup_bot_watch_skipped"


def skipped_digest(skipped: list[Skipped]) -> str:
    items = sorted((s.what, s.reason) for s in skipped)
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def post_skipped(deps: Dependencies, client: WebClient, skipped: list[Skipped], tried_since: float | None = None) \
        -> bool:
    """Tell the audit channel what a pass skipped; False when Slack did not take it. `tried_since`: when the same
    list was first tried without Slack saying it took it; the channel is looked at from then first."""
    if not deps.audit_channel:
        return True
    digest = skipped_digest(skipped)
    if tried_since is not None:
        found = channel_history.posted_before(client, deps.audit_channel, tried_since, SKIPPED_EVENT, "digest",
                                              digest, "the watch's list of what it skipped")
        if found is None:
            return False  # Slack cannot be asked now: looked at again next pass, never posted blind
        if found:
            return True
    try:
        client.chat_postMessage(channel=deps.audit_channel, text=SKIPPED_HEADLINE, blocks=skipped_blocks(skipped),
                                metadata={"event_type": SKIPPED_EVENT, "event_payload": {"digest": digest}})
    except SlackApiError as exc:
        log.error("could not post what the watch skipped to %s: %s", deps.audit_channel, exc.response.get("error"))
        return False
    except OSError as exc:
        log.error("could not post what the watch skipped to %s: %s", deps.audit_channel, type(exc).__name__)
        return False
    return True


def on_revert_outside(deps: Dependencies, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                      respond: Respond, client: WebClient) -> None:
    ack()
    if in_no_channel(deps, client, body, "Revert"):
        return
    deps.background.run_answered(partial(tell, respond), revert_outside, deps, str(action.get("value") or ""),
                                 body["user"]["id"], clicked_in(body), respond, client)


def revert_outside(deps: Dependencies, notice_id: str, user: str, channel: str, respond: Respond,
                   client: WebClient) -> None:
    notice = deps.store.get_notice(notice_id)
    if notice is None or notice.kind is not NoticeKind.DRIFT or not notice.before or not notice.after:
        deps.store.record(unknown_button(user, channel, "Revert", notice_id))
        tell(respond, "That change is not one the watch recorded (the button may not be from this bot).")
        return
    earlier = {f: notice.before[f] for f in notice.fields}
    seen = datetime.fromtimestamp(notice.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    report_change(deps, client, deps.changes.revert_outside_change(notice.db, notice.policy_id, earlier, user,
                                                                   channel, seen, notice.id), respond)


def register(app: App, deps: Dependencies) -> None:
    app.action(REVERT_OUTSIDE)(partial(on_revert_outside, deps))
