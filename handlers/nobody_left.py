"""The notes that nobody left can approve a pending change: a request's (handlers/posting.py) and a bulk
change's, in the same words."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk import WebClient

from bot.domain.batches import Batch, BatchOutcome
from bot.domain.outcomes import NOBODY_LEFT_SAID
from handlers import blocks, bulk_blocks
from handlers.bulk_sends import sent_once, to_thread
from handlers.dependencies import Dependencies


def nobody_left_words(deps: Dependencies, groups: Sequence[str]) -> tuple[str, str]:
    """Who has nobody left to approve (`groups`, as the rules name them), and what to do about it: the words a
    request's and a bulk change's notes share."""
    left = [deps.access.groups.resolve(g) for g in groups]
    if not left:
        return "nobody: the access rule names no approvers", ("ask whoever keeps the access file to name approvers, "
                                                               "or cancel it")
    who = blocks.mentions(left)
    return who, f"add someone who may approve it to {who}, or cancel it"


def tell_batch_nobody_left(deps: Dependencies, client: WebClient, batch: Batch, outcome: BatchOutcome) -> None:
    """One note in the thread and one to the requester, as for a single request (posting.tell_nobody_left):
    nobody left could give the approvals some of its policies still need."""
    who, fix = nobody_left_words(deps, outcome.nobody_left)
    some = "it" if outcome.count == len(batch.live) else f"{outcome.count} of its {len(batch.live)} policies"
    thread_note, dm_note = NOBODY_LEFT_SAID
    to_thread(deps, client, batch, thread_note, [(
        f":warning: Nobody left can approve this bulk change: {some} still "
        f"{'needs' if some == 'it' else 'need'} approvals, and there is no one in {who} who may give them. It stays "
        f"open until it expires, in case someone is added: {fix}.", None)])
    if deps.store.claim_notice(batch.id, dm_note):
        where = f" in <#{batch.channel}>" if batch.channel.startswith("C") else ""
        sent_once(deps, client, batch, dm_note, [dm_note], batch.requester,
                  f"Your bulk change `{bulk_blocks.code_text(batch.selection)}`{where}: {some} still "
                  f"{'needs' if some == 'it' else 'need'} approvals, and nobody left in {who} may give them. It "
                  f"stays open until it expires: {fix}.", user=batch.requester)
