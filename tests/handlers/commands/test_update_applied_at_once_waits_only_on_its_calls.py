"""What a person waits for after `update` on a change that needs no approval, through Bolt's signed pipeline: the
policy read under its lease, the PATCH and the post, with the storage estimate's reads beside them, and between the
PATCH's answer and the post only the write that records it applied and one write that claims the post and the
notices told with it (docs/benchmarks.md: round trips at 40 ms)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from approval_helpers import ALICE, approvals_bot
from conftest import Bot
from store_calls import watched_store

from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

STEP = "update acme/app-db bp03devday retention=9d"


@contextmanager
def store_calls_between(store: Store, planetscale: PlanetScaleState, bot: Bot) -> Iterator[list[tuple[str, int, int]]]:
    """Every call the app makes on the Store, by method (a Store method calling another counts once), with how many
    PlanetScale requests and Slack Web API calls had been made when it was called."""
    calls: list[tuple[str, int, int]] = []
    with watched_store(store, lambda name: calls.append((name, len(planetscale.calls()), len(bot.slack.calls)))):
        yield calls


def test_an_update_applied_at_once_posts_right_after_its_patch(approvals_bot: Bot,
                                                               planetscale: PlanetScaleState) -> None:
    approvals_bot.command("list acme/app-db", user=ALICE)  # the user groups listed, as a minute's cache holds them
    read_before, posted_before = len(planetscale.calls()), len(approvals_bot.slack.calls)
    with store_calls_between(approvals_bot.deps.store, planetscale, approvals_bot) as calls:
        reply = approvals_bot.command(STEP, user=ALICE)
    made = [(r.method, r.path.rsplit("/", 2)[-2:]) for r in planetscale.calls()[read_before:]]
    # The policy read once (under its lease), the branches and the latest backups for the estimate, one PATCH.
    assert sorted(made, key=str) == sorted([("GET", ["app-db", "branches"]), ("GET", ["app-db", "backup-policies"]),
                                            ("GET", ["dev", "backups"]),
                                            ("PATCH", ["backup-policies", "bp03devday"])], key=str)
    # Slack asked nothing about alice: the command Slack just delivered, signed, says she is active (Slack delivers
    # none of a deactivated member's). The result is the first thing posted, with the estimate read beside the PATCH.
    slack_calls = approvals_bot.slack.calls[posted_before:]
    assert [args["user"] for method, args in slack_calls if method == "users.info"] == []
    [(first, post), *_] = slack_calls
    assert first == "chat.postMessage" and post["text"].startswith(f":white_check_mark: <@{ALICE}> changed")
    assert "Estimated storage" in json.dumps(post["blocks"]) and "Estimated storage" in reply.all_text()
    patch_at = next(i for i, r in enumerate(planetscale.calls()[read_before:], start=read_before + 1)
                    if r.method == "PATCH")
    # Between the PATCH's answer and the post: its record, then the post's claim with the thread's and the DM's.
    between = [name for name, at_planetscale, at_slack in calls if at_planetscale >= patch_at
               and at_slack == posted_before]
    assert between == ["transition", "claim_notices"]
    # Claimed before the post, so that a sweep finding it applied and untold sends none of them again.
    [applied] = [e for e in approvals_bot.audit.all() if e.action == "applied"]
    store = approvals_bot.deps.store
    assert all(store.notice_claimed_at(str(applied.request_id), notice) is not None
               for notice in ("applied", "dm:applied", "posting", "shown:applied"))
