"""`/backup-policy`: the ack answers at once from the text alone; anything that needs PlanetScale, Slack's
directory or the database runs in the background after the ack, and answers through the response URL or the
channel. Each subcommand has one runner, looked up in `RUNNERS`; changes go through the change path."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_sdk import WebClient

from bot.domain.access import Capability
from bot.domain.access_rules import Action, Rule
from bot.domain.audit import targets_of
from bot.domain.bulk_grammar import BulkEditCommand, BulkUpdateCommand, parse_command
from bot.domain.changes import explain
from bot.domain.commands import (
    Command,
    CommandError,
    CreateCommand,
    DeleteCommand,
    EditCommand,
    ExportCommand,
    HelpCommand,
    HistoryCommand,
    ListCommand,
    PendingCommand,
    ShowCommand,
    StatusCommand,
    UpdateCommand,
)
from bot.domain.group_directory import DirectoryError
from bot.domain.ports import PartlyUnreadable, PlanetScaleError
from bot.domain.read_gate import ALL_TARGETS, Lookup
from bot.domain.reading import PolicyNotFound
from handlers import blocks, bulk_blocks
from handlers.asked import report_change
from handlers.commands.bulk import run_bulk_update
from handlers.commands.caller import Caller, may_read, read_failed, readable_targets, refuse
from handlers.commands.export import run_export
from handlers.commands.status import run_status
from handlers.dependencies import Dependencies
from handlers.views.bulk_edit import open_bulk_edit
from handlers.views.create import open_create
from handlers.views.edit import open_edit

log = logging.getLogger(__name__)
COMMAND = "/backup-policy"
HISTORY_LIMIT = 25
HISTORY_READ_AT_MOST = 1600  # entries read back for one history, newest first


def on_command(deps: Dependencies, ack: Ack, command: dict[str, Any], respond: Respond,
               client: WebClient) -> BoltResponse | None:
    try:
        parsed = parse_command(command.get("text") or "")
    except CommandError as exc:
        ack(text=blocks.error_text(str(exc)))
        return None
    if isinstance(parsed, HelpCommand) and not deps.background.redoing:
        # Nothing to ask anyone: the rules and the user groups Slack listed lately (where a rule needs one of them)
        # answer it in the ack. Not when redone from the inbox: the first instance did not know them, and handed its
        # answer over.
        with contextlib.suppress(DirectoryError):
            capabilities = deps.access.capabilities_as_listed(command["user_id"], command["channel_id"])
            # The ack Bolt's ack(text=…, blocks=…) would send, as Bolt sends what a listener returns; but its
            # JSON made once, not for every request.
            return BoltResponse(status=200, body=help_ack_body(command.get("command") or COMMAND, capabilities))
    if isinstance(parsed, CreateCommand) and parsed.values is None:
        ack()
        open_create(deps, client, respond, command["trigger_id"], command["user_id"], command["channel_id"], parsed.db)
        return None
    if isinstance(parsed, BulkEditCommand):
        ack()
        open_bulk_edit(deps, client, respond, command["trigger_id"], command["user_id"], command["channel_id"],
                       parsed.db, parsed.policy)
        return None
    if isinstance(parsed, EditCommand):
        ack()
        open_edit(deps, client, respond, command["trigger_id"], command["user_id"], command["channel_id"], parsed.db,
                  parsed.policy)
        return None
    if isinstance(parsed, UpdateCommand | DeleteCommand) and not parsed.dry_run:
        what = "change to" if isinstance(parsed, UpdateCommand) else "deletion of"
        ack(text=f":hourglass_flowing_sand: Checking your {what} “{blocks.literal(parsed.policy)}” in {parsed.db}…")
    elif isinstance(parsed, CreateCommand) and parsed.values is not None and not parsed.dry_run:
        ack(text=f":hourglass_flowing_sand: Checking your new policy “{blocks.literal(str(parsed.values.name))}” in "
                 f"{parsed.db}…")
    elif isinstance(parsed, BulkUpdateCommand) and not parsed.dry_run:
        ack(text=f":hourglass_flowing_sand: Checking each policy `{bulk_blocks.code_text(parsed.selection)}` names…")
    else:
        ack()
    caller = Caller(command["user_id"], command["channel_id"], command.get("command") or COMMAND, respond, client)
    runner: Callable[[Dependencies, Any, Caller], None] = RUNNERS[type(parsed)]
    deps.background.run_answered(caller.warn, runner, deps, parsed, caller)
    return None


def run_help(deps: Dependencies, _: HelpCommand, caller: Caller) -> None:
    capabilities, unchecked = deps.access.capabilities_checked(caller.user, caller.channel)
    if unchecked is not None and not capabilities:
        caller.warn(explain(DirectoryError(unchecked)))
        return
    caller.say("How to use /backup-policy", blocks.help_blocks(caller.command, capabilities, unchecked))


def run_pending(deps: Dependencies, _: PendingCommand, caller: Caller) -> None:
    pending = deps.changes.pending_for(caller.user, blocks.MAX_PENDING_SHOWN)
    batches = deps.bulk.pending_for(caller.user)
    if pending.total or not batches:
        caller.say(f"{blocks.plural(pending.total, 'open request')}",
                   blocks.pending_blocks(pending.oldest(blocks.MAX_PENDING_SHOWN), pending.total, caller.user))
    if batches:
        caller.say(f"{blocks.plural(len(batches), 'open bulk change')}",
                   bulk_blocks.pending_batch_blocks(batches, caller.user))


def run_create(deps: Dependencies, parsed: CreateCommand, caller: Caller) -> None:
    assert parsed.values is not None  # without values, the command opens the form
    outcome = deps.changes.ask_create(caller.user, caller.channel, parsed.db, parsed.values, parsed.reason,
                                      dry_run=parsed.dry_run)
    report_change(deps, caller.client, outcome, caller.respond)


def run_delete(deps: Dependencies, parsed: DeleteCommand, caller: Caller) -> None:
    outcome = deps.changes.ask_delete(caller.user, caller.channel, parsed.db, parsed.policy, parsed.reason,
                                      dry_run=parsed.dry_run)
    report_change(deps, caller.client, outcome, caller.respond)


def run_update(deps: Dependencies, parsed: UpdateCommand, caller: Caller) -> None:
    outcome = deps.changes.ask(caller.user, caller.channel, parsed.db, parsed.policy, parsed.update, parsed.reason,
                               dry_run=parsed.dry_run)
    report_change(deps, caller.client, outcome, caller.respond)


def run_list(deps: Dependencies, parsed: ListCommand, caller: Caller) -> None:
    if not may_read(deps, parsed.db, caller):
        return
    unreadable, why = 0, ""
    try:
        policies = deps.policies.list_policies(parsed.db)
    except PartlyUnreadable as exc:  # one odd policy hides no other; its target unknown, it is counted, not named
        policies, unreadable, why = list(exc.readable), len(exc.unreadable), exc.user_message
    except PlanetScaleError as exc:
        read_failed(deps, parsed.db, caller, "ListCommand", exc)
        return
    visible = readable_targets(deps, parsed.db, caller)
    shown = [p for p in policies if p.target in visible]
    caller.say(f"Backup policies of {parsed.db}",
               blocks.policy_list_blocks(parsed.db, shown, unreadable=unreadable, why=why))


def run_show(deps: Dependencies, parsed: ShowCommand, caller: Caller) -> None:
    if not may_read(deps, parsed.db, caller):
        return
    visible = readable_targets(deps, parsed.db, caller)
    try:
        listed = deps.policies.list_policies(parsed.db)
        policy = deps.policies.find_policy(parsed.db, parsed.policy, visible, listed=listed)
    except (PlanetScaleError, PolicyNotFound) as exc:
        read_failed(deps, parsed.db, caller, "ShowCommand", exc)
        return
    # Slack's groups unread: refused and recorded as any refused read, not a crash.
    decision = deps.access.decided(caller.user, Action.READ, parsed.db.organization, parsed.db.database,
                                   [policy.target], caller.channel)
    if not decision.allowed:
        refuse(deps, parsed.db, caller, decision.reason, policy.id,
               hidden=(Lookup(parsed.db, parsed.policy, visible, listed), policy))
        return
    editable = deps.access.decided(caller.user, Action.CHANGE, parsed.db.organization, parsed.db.database,
                                   [policy.target], caller.channel).allowed
    caller.say(f"{blocks.literal(policy.name)}: {blocks.schedule_text(policy)}",
               blocks.policy_detail_blocks(parsed.db, policy, editable))


def run_history(deps: Dependencies, parsed: HistoryCommand, caller: Caller) -> None:
    """The latest entries about policies whose every target (before, sent, after) the caller may see; entries
    about no policy (refusals, failed reads) only for someone who may see every target of the database."""
    db = parsed.db
    if not may_read(deps, db, caller):
        return
    visible = readable_targets(deps, db, caller)
    refs = [parsed.policy] if parsed.policy else []
    if parsed.policy:
        # By its current name or ID, to its ID: a renamed policy's history is found under either. A deleted
        # policy, or PlanetScale unreachable: what the trail holds under that reference.
        with contextlib.suppress(PlanetScaleError, PolicyNotFound):
            refs.append(deps.policies.find_policy(db, parsed.policy, visible).id)
    # Read further back while the entries the caller may not see (or the bot's own) fill the page, within a bound.
    read = HISTORY_LIMIT * 4
    while True:
        latest = deps.store.latest(db.organization, db.database, refs, read)
        events = [e for e in latest if e.action not in blocks.INTERNAL_ACTIONS
                  and (targets_of(e) <= visible if targets_of(e) else visible >= ALL_TARGETS)][:HISTORY_LIMIT]
        if len(events) >= HISTORY_LIMIT or len(latest) < read or read >= HISTORY_READ_AT_MOST:
            break
        read = min(read * 4, HISTORY_READ_AT_MOST)
    searched = read if len(latest) >= read else None  # stopped at the bound, older entries unread
    caller.say(f"History of {db}", blocks.history_blocks(db, events, parsed.policy, searched))


RUNNERS: dict[type[Command | BulkUpdateCommand], Callable[[Dependencies, Any, Caller], None]] = {
    HelpCommand: run_help,
    PendingCommand: run_pending,
    ListCommand: run_list,
    ShowCommand: run_show,
    HistoryCommand: run_history,
    UpdateCommand: run_update,
    StatusCommand: run_status,
    ExportCommand: run_export,
    CreateCommand: run_create,
    DeleteCommand: run_delete,
    BulkUpdateCommand: run_bulk_update,
}  # edit is not here: its modal opens right after the ack, while the trigger_id is fresh


HelpKey = tuple[str, tuple[tuple[int, bool, bool], ...]]
# The rules in each key are held by the value, so that their ids are not reused while the entry is cached.
_help_cache: dict[HelpKey, tuple[list[Rule], str]] = {}


def help_ack_body(name: str, capabilities: list[Capability]) -> str:
    """Help depends on nothing but these; building its blocks, then their JSON, took more than the rest of the
    ack. Rules are pydantic models holding lists, not hashable: the key is each rule's identity (a reloaded
    file: new rules)."""
    key = (name, tuple((id(c.rule), c.may_change, c.may_approve) for c in capabilities))
    cached = _help_cache.get(key)
    if cached is None:
        if len(_help_cache) >= 256:
            _help_cache.clear()
        body = json.dumps({"text": "How to use /backup-policy", "blocks": blocks.help_blocks(name, capabilities)})
        cached = _help_cache[key] = ([c.rule for c in capabilities], body)
    return cached[1]


def register(app: App, deps: Dependencies) -> None:
    app.command(COMMAND)(partial(on_command, deps))
