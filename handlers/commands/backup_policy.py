"""`/backup-policy`: the ack answers at once from the text alone; anything that needs PlanetScale, Slack's
directory or the database runs in the background after the ack, and answers through the response URL or the
channel."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

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
from bot.service import PolicyNotFound
from handlers import blocks
from handlers.messages import publish, say_privately
from handlers.views.edit import open_edit

if TYPE_CHECKING:
    from bot.app import Dependencies

log = logging.getLogger(__name__)
COMMAND = "/backup-policy"
HISTORY_LIMIT = 25
DatabaseCommand = ListCommand | ShowCommand | UpdateCommand | HistoryCommand


@functools.lru_cache(maxsize=256)
def help_in_ack(name: str, capabilities: tuple[str, ...]) -> list[dict[str, Any]]:
    """Help depends on nothing but these; building its blocks took more than the rest of the ack."""
    return blocks.help_blocks(name, list(capabilities))


def register(app: App, deps: Dependencies) -> None:
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except CommandError as exc:
            ack(text=blocks.error_text(str(exc)))
            return
        if isinstance(parsed, HelpCommand) and deps.access.groups.fresh:
            # Nothing to ask anyone: the rules and the user groups Slack listed lately answer it in the ack.
            capabilities = deps.access.capabilities(command["user_id"], command["channel_id"])
            ack(text="How to use /backup-policy",
                blocks=help_in_ack(command.get("command") or COMMAND, tuple(capabilities)))
            return
        if isinstance(parsed, EditCommand):
            ack()
            open_edit(deps, client, command["trigger_id"], command["user_id"], command["channel_id"], parsed.db,
                      parsed.policy)
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
            if isinstance(parsed, PendingCommand):
                requests = deps.approvals.pending_for(user)
                say_privately(respond, f"{len(requests)} open request(s)", blocks.pending_blocks(requests, user))
                return
            if not isinstance(parsed, DatabaseCommand):
                return
            seen = deps.access.may_see_database(user, parsed.db.organization, parsed.db.database, channel)
            if not seen.allowed:
                refuse(parsed.db, user, channel, seen.reason, respond)
            elif isinstance(parsed, ListCommand):
                list_policies(parsed, user, channel, respond)
            elif isinstance(parsed, ShowCommand):
                show_policy(parsed, user, channel, respond)
            elif isinstance(parsed, HistoryCommand):
                show_history(parsed, user, channel, respond)
            else:
                update_policy(parsed, user, channel, respond, client)
        except PlanetScaleError as exc:
            if isinstance(parsed, DatabaseCommand):  # an outside failure: on the record, not only in the log
                deps.audit.record(AuditEvent(action="failed", actor=user, organization=parsed.db.organization,
                                             database=parsed.db.database, detail=f"{type(parsed).__name__}: "
                                             f"{exc.user_message}", channel=channel))
            say_privately(respond, blocks.error_text(exc.user_message))
        except PolicyNotFound as exc:
            say_privately(respond, blocks.error_text(exc.user_message))
        except ChangeRejected as exc:
            problems = "\n".join(f"• {p.message}" for p in exc.problems)
            say_privately(respond, blocks.error_text(f"Nothing was sent to PlanetScale:\n{problems}"))
        except DirectoryError as exc:
            reason = f"Your access could not be checked, so nothing was done: {exc}."
            if isinstance(parsed, DatabaseCommand):
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

    def show_policy(parsed: ShowCommand, user: str, channel: str, respond: Respond) -> None:
        policy = deps.policies.find_policy(parsed.db, parsed.policy)
        decision = deps.access.decide(user, Action.READ, parsed.db.organization, parsed.db.database,
                                      [policy.target], channel)
        if not decision.allowed:
            refuse(parsed.db, user, channel, decision.reason, respond, policy.id)
            return
        say_privately(respond, f"{policy.name}: {describe_schedule(policy)}",
                      blocks.policy_detail_blocks(parsed.db, policy))

    def show_history(parsed: HistoryCommand, user: str, channel: str, respond: Respond) -> None:
        """The latest entries about policies whose target the caller may see (entries with none: the database's)."""
        db = parsed.db

        def readable(target: str) -> bool:
            return deps.access.decide(user, Action.READ, db.organization, db.database, [target], channel).allowed

        allowed = {t: readable(t) for t in ("production", "development")}
        events = [e for e in deps.store.latest(db.organization, db.database, parsed.policy, HISTORY_LIMIT * 4)
                  if allowed.get(str((e.before or {}).get("target")), True)][:HISTORY_LIMIT]
        say_privately(respond, f"History of {db}", blocks.history_blocks(db, events, parsed.policy))

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
        outcome = deps.approvals.request_change(plan, user, channel, decision)
        if outcome.kind == "requested" and outcome.request is not None:
            publish(deps, client, outcome.request, respond)
            say_privately(respond, f"Your change needs {decision.approvals} approval(s) from "
                                   f"{mentions(outcome.request.approvers)}: the request is in the channel, and "
                                   "nothing is sent to PlanetScale until then.")
        elif outcome.kind == "applied" and outcome.request is not None:
            publish(deps, client, outcome.request, respond)
        else:
            say_privately(respond, blocks.error_text(outcome.message))

    app.command(COMMAND)(on_command)
