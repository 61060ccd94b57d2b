"""A change asked (a command, a button, a form): its request or result posted in its channel once, by the one run
that claims it, whichever run of its work or sweep gets there first; the rest told to whoever asked."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.domain.change_requests import CLOSED_STATES
from bot.domain.changes import Outcome, OutcomeKind
from bot.domain.outcomes import ENDED_AS, telling
from handlers import blocks, home
from handlers.dependencies import Dependencies
from handlers.late_post import POST_GRACE, POSTED, POSTING, carry_on, owes_post, post_late
from handlers.posting import AUDITED, owes_audit, publish, report_step, request_message, say_privately

# What a change asked comes to when its request is posted in the channel.
POSTS = (OutcomeKind.REQUESTED, OutcomeKind.WAITING, OutcomeKind.APPLIED, OutcomeKind.QUEUED)


class Post(Enum):
    """What became of a change's post made here: tried (posted, or refused for good), or held back by Slack for
    a moment and owed to the sweep, which posts it once Slack takes it."""

    TRIED = "tried"
    LATER = "later"


def post_asked(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond | None,
               told_here: Sequence[str] = ()) -> Post | None:
    """The request of a change just asked, posted in its channel (one of POSTS); None when another run of this
    work or the sweep holds its post. `told_here`: the notices of an end told by the caller, claimed first in
    the same round trip as the post's own claims."""
    request = outcome.request
    if request is None or outcome.kind not in POSTS:
        return None
    if outcome.kind is OutcomeKind.APPLIED:
        # Claimed, so that a sweep finding it applied meanwhile does not post it too (handlers/late_post.py).
        # With it, in the same round trip: the message about to be posted shows it applied, so a sweep telling
        # its end (this instance stopped before marking it told) neither shows it again nor says so in its thread.
        state = request.state.value
        mine = [POSTING, f"shown:{state}"] + ([] if state in told_here else [state])  # claimed already when told here
        if not deps.store.claim_notices(request.id, mine, regardless=told_here):
            return None
        # Applied at once: never pending, so nobody approved it; its message needs no read of approvals.
        if publish(deps, client, request, respond, approvals=() if not request.approvals_needed else None):
            return Post.LATER  # POSTED unclaimed: owed to the sweep
        deps.store.claim_notice(request.id, POSTED)
        return Post.TRIED
    # Pending or queued: claimed, as a run redoing this work (its first run stalled) finds it stored unposted
    # too. Held by another: another run of this work posts it, or the sweep did (a queued change it applied
    # meanwhile). A queued change's post Slack took unheard is looked for, not made again, once the sweep
    # applies it.
    if not deps.store.claim_notice(request.id, POSTING):
        return None
    return Post.LATER if publish(deps, client, request, respond) else Post.TRIED


def post_unposted(deps: Dependencies, client: WebClient) -> None:
    """The sweep's late post of open requests whose run claimed their post and stopped before making it: taken
    over once the claim is POST_GRACE old, and looked for in the channel before being posted again."""
    for request in deps.store.unposted(POSTING, POSTED, deps.store.clock() - POST_GRACE):
        if owes_post(request):
            with carry_on("post", f"request {request.id}"):
                post_late(deps, client, request, *request_message(deps, request))


def report_change(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond) -> None:
    """A change asked from a command or a button: the request or result in the channel, the rest to the caller."""
    with telling(outcome):
        tell_change(deps, client, outcome, respond)


def tell_change(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond) -> None:
    # Found closed (by an earlier run of this work, or another person's): its end is not this step's to tell.
    ended_here = outcome.request is not None and outcome.request.state in CLOSED_STATES \
        and outcome.kind is not OutcomeKind.CLOSED
    # Ended at once and told here: its thread notice and DM are claimed before the post, so that a sweep finding
    # it closed and not yet marked told sends neither; with the post's own claims when it is posted.
    told_here = (outcome.request.state.value, f"dm:{outcome.request.state.value}") \
        if ended_here and outcome.request is not None else ()
    posted = outcome.kind is OutcomeKind.APPLIED and outcome.request is not None
    if told_here and not posted and outcome.request is not None:
        deps.store.claim_notices(outcome.request.id, [], regardless=told_here)
    if outcome.kind is OutcomeKind.PREVIEWED and outcome.plan is not None:
        say_privately(respond, "Dry run: nothing was sent", blocks.dry_run_blocks(outcome.plan, outcome.approvals,
                                                                           outcome.guardrails))
    elif outcome.kind in POSTS and outcome.request is not None:
        post_asked(deps, client, outcome, respond, told_here if posted else ())
        if outcome.kind is OutcomeKind.QUEUED:
            say_privately(respond, blocks.error_text(outcome.message))
        elif outcome.kind is not OutcomeKind.APPLIED:
            home.refresh_homes(deps, client, outcome.request)
            needed = outcome.request.approvals_needed
            # Not said to be in the channel when Slack took no post of it there (the caller was told why).
            latest = deps.store.get_request(outcome.request.id) or outcome.request
            where = "the request is in the channel" if latest.message_ts else \
                "its approvers find it in `/backup-policy pending`"
            say_privately(respond, f"Your change needs {blocks.plural(needed, 'approval')} from "
                                   f"{blocks.mentions(outcome.request.approvers)}: "
                                   f"{where}, and nothing is sent to PlanetScale until then.")
    else:
        say_privately(respond, blocks.error_text(outcome.message))
        if outcome.kind is OutcomeKind.CLOSED and outcome.request is not None \
                and outcome.request.state in CLOSED_STATES and not outcome.request.told:
            # Its end untold: the run that ended it stopped (or is telling it now). Told as the sweep tells it,
            # each notice once, its message posted if it never was.
            report_step(deps, client, Outcome(ENDED_AS[outcome.request.state], outcome.message,
                                              outcome.request), None)
    if ended_here and outcome.request is not None:
        # Ended at once, told to the person who asked it: owed beyond that is the audit channel, and its post when
        # Slack may not have made it (left to the sweep, which tells what is untold).
        owed = [AUDITED] if owes_audit(deps, outcome.request) else []
        deps.store.mark_told(outcome.request.id, owed + ([POSTED] if posted else []))


