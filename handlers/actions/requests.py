"""The buttons on change requests: Approve, Reject, Cancel, and Revert on an applied change."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.access import Action, DirectoryError
from bot.approvals import Outcome
from bot.planetscale import PlanetScaleError
from bot.policy import ChangeRejected
from bot.service import PolicyNotFound
from handlers import blocks
from handlers.messages import publish, refresh, say_privately

if TYPE_CHECKING:
    from bot.app import Dependencies

log = logging.getLogger(__name__)


def register(app: App, deps: Dependencies) -> None:
    def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                 client: WebClient) -> None:
        ack()
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
        deps.background.run(decide, str(action.get("action_id")), str(action.get("value") or ""),
                            body["user"]["id"], channel, respond, client)

    def decide(action_id: str, request_id: str, user: str, channel: str, respond: Respond,
               client: WebClient) -> None:
        try:
            if action_id == blocks.REVERT:
                revert(request_id, user, channel, respond, client)
                return
            if action_id == blocks.APPROVE:
                outcome = deps.approvals.approve(request_id, user, channel)
            elif action_id == blocks.REJECT:
                outcome = deps.approvals.reject(request_id, user, channel)
            else:
                outcome = deps.approvals.cancel(request_id, user)
            report(outcome, respond, client)
        except Exception:
            log.exception("the click on %s failed unexpectedly", action_id)
            say_privately(respond, blocks.error_text(
                "Something went wrong inside the bot while handling your click; the error is in its log. "
                "`/backup-policy pending` and `/backup-policy history` show where the request stands."))

    def report(outcome: Outcome, respond: Respond, client: WebClient) -> None:
        if outcome.changed_request and outcome.request is not None:
            refresh(deps, client, outcome.request, respond)
        if outcome.kind not in ("applied", "rejected", "cancelled"):
            say_privately(respond, blocks.error_text(outcome.message) if outcome.kind != "counted"
                          else outcome.message)

    def revert(request_id: str, user: str, channel: str, respond: Respond, client: WebClient) -> None:
        try:
            found = deps.approvals.revert_plan(request_id)
            if isinstance(found, Outcome):
                say_privately(respond, blocks.error_text(found.message))
                return
            original, plan = found
            targets = [plan.before.target, str(plan.update.target or plan.before.target)]
            decision = deps.access.decide(user, Action.CHANGE, original.organization, original.database,
                                          targets, channel)
            if not decision.allowed:
                say_privately(respond, blocks.error_text(decision.reason))
                return
            outcome = deps.approvals.request_change(plan, user, channel, decision, revert_of=original.id)
        except (PlanetScaleError, PolicyNotFound) as exc:
            say_privately(respond, blocks.error_text(exc.user_message))
            return
        except ChangeRejected as exc:
            problems = "\n".join(f"• {p.message}" for p in exc.problems)
            say_privately(respond, blocks.error_text(f"This change cannot be reverted as it stands:\n{problems}"))
            return
        except DirectoryError as exc:
            say_privately(respond, blocks.error_text(f"Your access could not be checked: {exc}."))
            return
        if outcome.kind in ("requested", "applied") and outcome.request is not None:
            publish(deps, client, outcome.request, None)
        else:
            say_privately(respond, blocks.error_text(outcome.message))

    for action_id in (blocks.APPROVE, blocks.REJECT, blocks.CANCEL, blocks.REVERT):
        app.action(action_id)(on_click)
