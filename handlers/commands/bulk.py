"""`/backup-policy update <org>/<glob> <policy or glob> [--where target=…] key=value…`: one change over many
policies, through the bulk door (bot/domain/bulk.py). Read and judged in the background after the ack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.domain.bulk_finding import Selection
from bot.domain.bulk_grammar import BulkUpdateCommand
from handlers.bulk_posting import report_batch

if TYPE_CHECKING:
    from handlers.commands.caller import Caller
    from handlers.dependencies import Dependencies


def run_bulk_update(deps: Dependencies, parsed: BulkUpdateCommand, caller: Caller) -> None:
    selection = Selection(parsed.db.organization, parsed.db.database, parsed.policy, parsed.where_target)
    outcome = deps.bulk.ask(caller.user, caller.channel, selection, parsed.update, parsed.reason,
                            dry_run=parsed.dry_run)
    report_batch(deps, caller.client, outcome, caller.respond)
