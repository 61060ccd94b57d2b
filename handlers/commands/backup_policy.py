"""`/backup-policy`: the ack answers at once from the text alone; anything that needs PlanetScale runs in the
background after the ack, and answers through the response URL or the channel."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import Action, DirectoryError, mentions
from bot.audit import AuditEvent
from bot.grammar import (
    Command,
    CommandError,
    DatabaseRef,
    EditCommand,
    HelpCommand,
    HistoryCommand,
    ListCommand,
    PendingCommand,
    ShowCommand,
    UpdateCommand,
    parse,
)
from bot.planetscale import PlanetScaleError
from bot.policy import ChangeRejected, describe_schedule
from bot.service import AppliedChange, PolicyNotFound
from handlers import blocks

if TYPE_CHECKING:
    from bot.app import Dependencies

log = logging.getLogger(__name__)
COMMAND = "/backup-policy"
NOT_YET = {
    EditCommand: "`edit` (the form) is not available in this version yet: use `update` with key=value.",
    HistoryCommand: "`history` is not available in this version yet.",
    PendingCommand: "`pending` is not available in this version yet: changes apply at once.",
}


def register(app: App, deps: Dependencies) -> None:
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except CommandError as exc:
            ack(text=blocks.error_text(str(exc)))
            return
        if type(parsed) in NOT_YET:
            ack(text=blocks.error_text(NOT_YET[type(parsed)]))
            return
        if isinstance(parsed, UpdateCommand) and not parsed.dry_run:
            ack(text=f":hourglass_flowing_sand: Checking your change to “{blocks.escape(parsed.policy)}” in "
                     f"{parsed.db}…")
        else:
            ack()
        name = command.get("command") or COMMAND
        deps.background.run(run_command, parsed, name, command["user_id"], command["channel_id"], respond, client)

    def run_command(parsed: Command, name: str, user: str, channel: str, respond: Respond,
                    client: WebClient) -> None:
        try:
            if isinstance(parsed, HelpCommand):
                capabilities = deps.access.capabilities(user, channel)
                say_privately(respond, "How to use /backup-policy", blocks.help_blocks(name, capabilities))
                return
            if not isinstance(parsed, ListCommand | ShowCommand | UpdateCommand):
                return
            seen = deps.access.may_see_database(user, parsed.db.organization, parsed.db.database, channel)
            if not seen.allowed:
                refuse(parsed.db, user, channel, seen.reason, respond)
                return
            if isinstance(parsed, ListCommand):
                list_policies(parsed, user, channel, respond)
            elif isinstance(parsed, ShowCommand):
                policy = deps.policies.find_policy(parsed.db, parsed.policy)
                decision = deps.access.decide(user, Action.READ, parsed.db.organization, parsed.db.database,
                                              [policy.target], channel)
                if not decision.allowed:
                    refuse(parsed.db, user, channel, decision.reason, respond, policy.id)
                    return
                say_privately(respond, f"{policy.name}: {describe_schedule(policy)}",
                              blocks.policy_detail_blocks(parsed.db, policy))
            else:
                update_policy(parsed, user, channel, respond, client)
        except (PolicyNotFound, PlanetScaleError) as exc:
            say_privately(respond, blocks.error_text(exc.user_message))
        except ChangeRejected as exc:
            problems = "\n".join(f"• {p.message}" for p in exc.problems)
            say_privately(respond, blocks.error_text(f"Nothing was sent to PlanetScale:\n{problems}"))
        except DirectoryError as exc:
            reason = f"Your access could not be checked, so nothing was done: {exc}."
            if isinstance(parsed, ListCommand | ShowCommand | UpdateCommand):
                refuse(parsed.db, user, channel, reason, respond)
            else:
                say_privately(respond, blocks.error_text(reason))
        except Exception:
            log.exception("the command failed unexpectedly")
            say_privately(respond, blocks.error_text(
                "Something went wrong inside the bot; nothing more was done. The error is in its log."))

    def refuse(db: DatabaseRef, user: str, channel: str, reason: str, respond: Respond,
               policy_id: str | None = None) -> None:
        deps.audit.record(AuditEvent(action="refused", actor=user, organization=db.organization,
                                     database=db.database, policy_id=policy_id, detail=reason, channel=channel))
        say_privately(respond, blocks.error_text(reason))

    def list_policies(parsed: ListCommand, user: str, channel: str, respond: Respond) -> None:
        policies = deps.policies.list_policies(parsed.db)
        visible = {t for t in {p.target for p in policies}
                   if deps.access.decide(user, Action.READ, parsed.db.organization, parsed.db.database, [t],
                                         channel).allowed}
        shown = [p for p in policies if p.target in visible]
        say_privately(respond, f"Backup policies of {parsed.db}",
                      blocks.policy_list_blocks(parsed.db, shown, hidden=len(policies) - len(shown)))

    def update_policy(parsed: UpdateCommand, user: str, channel: str, respond: Respond, client: WebClient) -> None:
        before = deps.policies.find_policy(parsed.db, parsed.policy)
        targets = [before.target, str(parsed.update.target or before.target)]
        decision = deps.access.decide(user, Action.CHANGE, parsed.db.organization, parsed.db.database, targets,
                                      channel)
        if not decision.allowed:
            refuse(parsed.db, user, channel, decision.reason, respond, before.id)
            return
        plan = deps.policies.plan(parsed.db, before, parsed.update, parsed.reason)
        if parsed.dry_run:
            deps.audit.record(AuditEvent(
                action="dry_run", actor=user, organization=parsed.db.organization, database=parsed.db.database,
                policy_id=plan.before.id, policy_name=plan.before.name, before=plan.before.model_dump(),
                sent=plan.update.to_api(), reason=parsed.reason, channel=channel))
            say_privately(respond, "Dry run: nothing was sent", blocks.dry_run_blocks(plan, decision.approvals))
            return
        if decision.approvals:
            reason = (f"This change needs {decision.approvals} approval(s) from {mentions(decision.approvers)} "
                      "under the access rules, and approvals are not available in this version yet: nothing "
                      "was sent.")
            refuse(parsed.db, user, channel, reason, respond, before.id)
            return
        change = deps.policies.apply(plan, actor=user, channel=channel)
        announce(change, user, channel, respond, client)

    def announce(change: AppliedChange, user: str, channel: str, respond: Respond, client: WebClient) -> None:
        text = blocks.applied_change_text(change, user)
        result_blocks = blocks.applied_change_blocks(change, user)
        try:
            client.chat_postMessage(channel=channel, text=text, blocks=result_blocks)
        except SlackApiError as exc:
            # Private channels and DMs the bot is not in: the command's response URL still reaches them.
            log.warning("chat.postMessage to %s failed (%s); answering through the response URL",
                        channel, exc.response.get("error"))
            answer = respond(text=text, blocks=result_blocks, response_type="in_channel")
            if answer.status_code != 200:
                log.error("the change was applied but could not be posted to %s", channel)
                say_privately(respond, blocks.error_text(
                    "The change was applied, but posting it to this channel failed: "
                    f"{exc.response.get('error')}."))
        if deps.audit_channel and deps.audit_channel != channel:
            try:
                client.chat_postMessage(channel=deps.audit_channel, text=text, blocks=result_blocks)
            except SlackApiError as exc:
                log.error("could not post to the audit channel %s: %s", deps.audit_channel,
                          exc.response.get("error"))

    app.command(COMMAND)(on_command)


def say_privately(respond: Respond, text: str, result_blocks: list[dict[str, Any]] | None = None) -> None:
    answer = respond(text=text, blocks=result_blocks, response_type="ephemeral")
    if answer.status_code != 200:
        log.error("could not answer through the response URL: HTTP %s", answer.status_code)
