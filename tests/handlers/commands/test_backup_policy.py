"""`/backup-policy` through Bolt's real pipeline: signed requests in, the emulators at the edges."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from conftest import ALICE, CHANNEL, SIGNING_SECRET, Bot, acked_while

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.emulators.slack_requests import signed_headers

PROD = '"Production daily"'


def text_of(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def patches(planetscale: PlanetScaleState) -> list[Any]:
    return [r.body for r in planetscale.calls("PATCH")]


# --- help and reading -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_help_is_answered_to_the_caller_alone(bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    reply = bot.command(text)
    assert reply.response.status == 200 and reply.ack == {}
    assert reply.public == []
    rendered = text_of(reply.private[0].blocks)
    for subcommand in ("list", "show", "update", "retention", "--dry-run", "reason", "What you may do here"):
        assert subcommand in rendered
    assert planetscale.calls() == []


def test_list_shows_every_policy_privately(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command("list acme/app-db")
    assert reply.ack == {}
    assert reply.public == [] and len(reply.private) == 1
    text = text_of(reply.private[0].blocks)
    for name in ("Production daily", "Production weekly", "Development daily"):
        assert name in text
    assert "every 12 hours at 09:10 UTC, kept 2 days" in text
    assert [r.method for r in planetscale.calls()] == ["GET"]


def test_list_follows_every_page_and_stays_inside_block_limits(bot: Bot, planetscale: PlanetScaleState) -> None:
    for n in range(230):
        planetscale.add_policy("acme", "app-db", f"bpmany{n:04d}", name=f"Extra policy number {n}")
    reply = bot.command("list acme/app-db")
    pages = [r.query["page"] for r in planetscale.calls("GET")]
    assert pages == ["1", "2", "3"]
    blocks = reply.private[0].blocks
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    text = text_of(blocks)
    assert "(233)" in text and "Extra policy number 0" in text


def test_show_by_id_and_by_exact_name(bot: Bot) -> None:
    by_id = bot.command("show acme/app-db bp02prodwk")
    by_name = bot.command('show acme/app-db "Production weekly"')
    for reply in (by_id, by_name):
        text = text_of(reply.private[0].blocks)
        assert "Production weekly" in text and "every week on Sunday at 03:00 UTC, kept 4 weeks" in text
        assert reply.public == []


def test_show_unknown_policy_suggests_the_close_name(bot: Bot) -> None:
    reply = bot.command('show acme/app-db "production daily"')
    assert "“Production daily”" in reply.private[0].text
    assert "list acme/app-db" in reply.private[0].text


def test_show_by_name_shared_by_two_policies_asks_for_the_id(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_policy("acme", "app-db", "bpdupname01", name="Production weekly")
    reply = bot.command('show acme/app-db "Production weekly"')
    assert "bp02prodwk" in reply.private[0].text and "bpdupname01" in reply.private[0].text


# --- update: the happy path -------------------------------------------------------------------------


def test_update_sends_one_patch_with_exactly_the_fields_given_and_posts_to_the_channel(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = bot.command(f"update acme/app-db {PROD} retention=30d frequency=12h at=02:00")
    assert patches(planetscale) == [{"retention_value": 30, "retention_unit": "day", "frequency_value": 12,
                                     "frequency_unit": "hour", "schedule_time": "02:00"}]
    patch = planetscale.calls("PATCH")[0]
    assert patch.path == "/organizations/acme/databases/app-db/backup-policies/bp01prod12h"
    assert patch.authorization == "demo-token-id:pscale_tkn_demo_only_not_a_secret"
    [posted] = reply.public
    assert posted.kind == "message" and posted.channel == CHANNEL
    text = text_of(posted.blocks)
    assert f"<@{ALICE}>" in text
    assert "~2 days~ → *30 days*" in text and "~09:10 UTC~ → *02:00 UTC*" in text
    assert "every 12 hours at 02:00 UTC, kept 30 days" in text
    assert "<!date^" in text  # the next run, in the reader's time zone
    assert planetscale.policy("acme", "app-db", "bp01prod12h")["retention_value"] == 30
    assert [e.action for e in bot.audit.all()] == ["requested", "sending", "applied"]
    event = bot.audit.all()[-1]
    assert event.actor == ALICE and event.request_id and event.sent == patches(planetscale)[0]
    assert event.before and event.before["retention_value"] == 2
    assert event.after and event.after["retention_value"] == 30


def test_update_with_a_reason_shows_it_and_records_it(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command(f'update acme/app-db {PROD} retention=7d reason="audit asks a week"')
    assert "audit asks a week" in text_of(reply.public[0].blocks)
    assert {e.reason for e in bot.audit.all()} == {"audit asks a week"}
    assert patches(planetscale) == [{"retention_value": 7, "retention_unit": "day"}]


@pytest.mark.parametrize(("text", "sent"), [
    ('name="Prod nightly"', {"name": "Prod nightly"}),
    ("target=production", {"target": "production"}),
    ("retention=36h", {"retention_value": 36, "retention_unit": "hour"}),
    ('retention="3 weeks"', {"retention_value": 3, "retention_unit": "week"}),
    ("retention=6 months", {"retention_value": 6, "retention_unit": "month"}),
    ("retention=1y", {"retention_value": 1, "retention_unit": "year"}),
    ("frequency=2d retention=4d", {"frequency_value": 2, "frequency_unit": "day", "retention_value": 4,
                                   "retention_unit": "day"}),
    ("frequency=1w day=sat retention=2w", {"frequency_value": 1, "frequency_unit": "week", "schedule_day": 6,
                                           "retention_value": 2, "retention_unit": "week"}),
    ("frequency=1mo day=tuesday week=3rd retention=1y",
     {"frequency_value": 1, "frequency_unit": "month", "schedule_day": 2, "schedule_week": 2,
      "retention_value": 1, "retention_unit": "year"}),
    ("at=7:05", {"schedule_time": "07:05"}),
    ("retention_value=9 retention_unit=days", {"retention_value": 9, "retention_unit": "day"}),
    ("schedule_time=23:59", {"schedule_time": "23:59"}),
])
def test_update_every_key_reaches_planetscale_as_the_api_fields(
    bot: Bot, planetscale: PlanetScaleState, text: str, sent: dict[str, Any]
) -> None:
    policy = "bp03devday"
    reply = bot.command(f"update acme/app-db {policy} {text}")
    assert patches(planetscale) == [sent], reply.all_text()
    assert len(reply.public) == 1


def test_dry_run_sends_nothing_and_previews_privately(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.command(f"update acme/app-db {PROD} retention=30d --dry-run")
    assert patches(planetscale) == []
    assert reply.public == []
    text = text_of(reply.private[0].blocks)
    assert "Dry run" in text and "nothing was sent" in text and "~2 days~ → *30 days*" in text
    assert [e.action for e in bot.audit.all()] == ["dry_run"]


# --- bad input: answered to the caller alone, nothing sent ------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("lsit acme/app-db", "Did you mean `list`"),
    ("frobnicate acme/app-db", "Unknown subcommand"),
    ("list", "needs a database"),
    ("list acme", "not <organization>/<database>"),
    ("list acme/app-db extra", "Unexpected"),
    ("list ../../etc/app-db", "not <organization>/<database>"),
    ("list ../app-db", "not a valid organization"),
    ("list acme/app%2Fdb", "not a valid database"),
    ("show acme/app-db", "needs a policy"),
    (f"update acme/app-db {PROD}", "Nothing to change"),
    (f"update acme/app-db {PROD} reten=30d", "Did you mean `retention`"),
    (f"update acme/app-db {PROD} retention=30", "needs a unit"),
    (f"update acme/app-db {PROD} retention=5m", "ambiguous"),
    (f"update acme/app-db {PROD} retention=0d", "at least 1"),
    (f"update acme/app-db {PROD} retention=-3d", "at least 1"),
    (f"update acme/app-db {PROD} retention=1.5d", "whole number"),
    (f"update acme/app-db {PROD} frequency=1y", "cannot run yearly"),
    (f"update acme/app-db {PROD} at=25:00", "not a time"),
    (f"update acme/app-db {PROD} at=2pm", "24-hour"),
    (f"update acme/app-db {PROD} day=funday", "not a day"),
    (f"update acme/app-db {PROD} week=5th", "not a week"),
    (f"update acme/app-db {PROD} target=prod", "Did you mean `target=production`"),
    (f"update acme/app-db {PROD} retention=3d retention_value=4", "give it once"),
    (f"update acme/app-db {PROD} retention=99999999999d", "too large"),
    (f"update acme/app-db {PROD} --force", "Unknown option"),
    ('update acme/app-db "Production daily retention=30d', "not closed"),
    ("update acme/app-db Production daily retention=30d", '"Production daily"'),
])
def test_bad_input_is_answered_privately_in_the_ack_and_sends_nothing(
    bot: Bot, planetscale: PlanetScaleState, text: str, expected: str
) -> None:
    reply = bot.command(text)
    assert expected in reply.ack_text, reply.ack_text
    assert reply.ack.get("response_type", "ephemeral") == "ephemeral"
    assert reply.events == []
    assert planetscale.calls() == []


@pytest.mark.parametrize(("text", "expected"), [
    ("bp03devday day=mon", "day only applies to weekly or monthly"),
    ("bp03devday week=1st frequency=1w day=mon retention=2w", "week only applies to monthly"),
    ("bp03devday frequency=1w retention=2w", "needs a day"),
    ("bp03devday frequency=1mo day=sun retention=1y", "needs a week of the month"),
    ("bp02prodwk retention=3d", "at least 1 week"),
    ("bp03devday retention=3d", "nothing would change"),
    ('"No such policy" retention=3d', "No backup policy"),
])
def test_impossible_changes_are_answered_privately_and_send_nothing(
    bot: Bot, planetscale: PlanetScaleState, text: str, expected: str
) -> None:
    reply = bot.command(f"update acme/app-db {text}")
    assert patches(planetscale) == []
    assert reply.public == []
    assert expected in reply.private[0].text


# --- PlanetScale failing ----------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "expected"), [
    (Fault(status=401, times=None), "PLANETSCALE_SERVICE_TOKEN"),
    (Fault(status=403, method="PATCH", times=None), "`write_backups`"),
    (Fault(status=404, method="PATCH", times=None), "lacks `write_backups`"),
    (Fault(status=422, method="PATCH", body='{"code":"unprocessable","message":"Retention too long"}'),
     "Retention too long"),
    (Fault(status=500, method="PATCH", times=None), "(500)"),
    (Fault(status=503, method="PATCH", times=None, body="<html>down</html>"), "(503)"),
    (Fault(status=429, method="PATCH", times=None, retry_after="1"), "rate limiting"),
    (Fault(status=429, method="PATCH", times=None, retry_after="120"), "Try again in 120 seconds"),
])
def test_planetscale_failures_become_a_private_message_and_a_record(
    bot: Bot, planetscale: PlanetScaleState, fault: Fault, expected: str
) -> None:
    planetscale.add_fault(fault)
    reply = bot.command(f"update acme/app-db {PROD} retention=30d")
    assert reply.public == []
    [answer] = reply.private
    assert expected in answer.text
    assert "pscale_tkn" not in reply.all_text()
    if fault.status == 401:  # the read fails before any change is attempted: the failed read is recorded
        [event] = bot.audit.all()
        assert event.action == "failed" and expected in (event.detail or "") and event.sent is None
    else:
        assert [e.action for e in bot.audit.all()] == ["requested", "sending", "failed"]
        event = bot.audit.all()[-1]
        assert event.sent == {"retention_value": 30, "retention_unit": "day"} and expected in (event.detail or "")


def test_a_transient_5xx_on_a_read_is_retried_and_the_change_applies_once(
    bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]
) -> None:
    planetscale.add_fault(Fault(status=502, method="GET", path_contains="/backup-policies", times=2))
    reply = bot.command(f"update acme/app-db {PROD} retention=30d")
    assert len(patches(planetscale)) == 1
    assert sleeps == [0.5, 1.0]
    assert len(reply.public) == 1


def test_retry_after_is_honoured(bot: Bot, planetscale: PlanetScaleState, sleeps: list[float]) -> None:
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    reply = bot.command(f"update acme/app-db {PROD} retention=30d")
    assert sleeps == [3.0]
    assert len(reply.public) == 1


def test_the_ack_is_immediate_while_planetscale_is_slow(bot: Bot, planetscale: PlanetScaleState) -> None:
    from slack_bolt import BoltRequest

    answering = threading.Event()
    planetscale.add_fault(Fault(until=answering, method="GET"))
    body = bot.command_body(f"update acme/app-db {PROD} retention=30d")
    try:
        # The ack comes while PlanetScale has not answered: it does not wait for it.
        response = acked_while(lambda: bot.app.dispatch(
            BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))))
    finally:
        answering.set()
    assert response.status == 200 and "Checking your change" in response.body
    assert bot.executor.wait_idle(timeout=30)
    assert len(planetscale.calls("PATCH")) == 1


# --- Slack failing, and what reaches the channel ------------------------------------------------------


def test_a_channel_the_bot_cannot_post_in_gets_the_result_through_the_response_url(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = bot.command(f"update acme/app-db {PROD} retention=30d", channel="G0PRIVATE01")
    assert len(patches(planetscale)) == 1
    [posted] = reply.public
    assert posted.kind == "response" and posted.response_type == "in_channel"
    assert "30 days" in text_of(posted.blocks)


def test_slack_rate_limits_on_posting_are_retried(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.slack.add_fault(MethodFault("chat.postMessage", status=429, retry_after=0, times=1))
    reply = bot.command(f"update acme/app-db {PROD} retention=30d")
    assert [e.kind for e in reply.public] == ["message"]
    assert len(bot.slack.method_calls("chat.postMessage")) == 2


def test_applied_changes_also_reach_the_audit_channel(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.deps.audit_channel = "C0RANDOM01"
    reply = bot.command(f"update acme/app-db {PROD} retention=30d")
    assert sorted(e.channel or "" for e in reply.public) == sorted([CHANNEL, "C0RANDOM01"])
    [record] = [e for e in reply.public if e.channel == "C0RANDOM01"]
    assert "actions" not in [b["type"] for b in record.blocks] and "30 days" in text_of(record.blocks)


def test_a_policy_name_cannot_mention_the_channel(bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_policy("acme", "app-db", "bpmention01", name="<!channel> hi", target="development")
    reply = bot.command("update acme/app-db bpmention01 retention=3d")
    text = text_of(reply.public[0].blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


# --- requests that are not from Slack -----------------------------------------------------------------


def test_unsigned_and_stale_requests_are_refused_and_do_nothing(bot: Bot, planetscale: PlanetScaleState) -> None:
    body = bot.command_body(f"update acme/app-db {PROD} retention=30d")
    forged = signed_headers("not-the-secret", body)
    stale = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 600)
    for headers in (forged, stale, {"content-type": "application/x-www-form-urlencoded"}):
        reply = bot.send(body, headers)
        assert reply.response.status == 401
        assert reply.events == []
    assert planetscale.calls() == []


@pytest.mark.parametrize("fault", [Fault(status=503, times=None), Fault(status=429, times=None),
                                   Fault(status=200, body="{broken")])
def test_a_failed_read_is_answered_and_recorded(bot: Bot, planetscale: PlanetScaleState, fault: Fault) -> None:
    planetscale.add_fault(fault)
    reply = bot.command("list acme/app-db")
    [answer] = reply.private
    assert "PlanetScale" in answer.text and reply.public == []
    [event] = bot.audit.all()
    assert event.action == "failed" and event.detail and event.detail.startswith("ListCommand: PlanetScale")


def test_a_change_at_once_is_sent_on_the_policy_read_under_its_lease(bot: Bot, planetscale: PlanetScaleState) -> None:
    """Read once, under the lease taken before it: a read made before the lease may predate another change's
    PATCH or a move made in PlanetScale (the issue "One judge", item 1), so there is none."""
    bot.command("update acme/app-db bp03devday retention=9d")
    calls = [(c.method, c.path.rsplit("/", 1)[-1]) for c in planetscale.calls()]
    # Beside it, the branches and the policy's backups, which its storage estimate is made from: read once each,
    # in whatever order they land, as nothing judged here depends on them.
    assert sorted(calls) == [("GET", "backup-policies"), ("GET", "backups"), ("GET", "branches"),
                             ("PATCH", "bp03devday")]
    assert calls.index(("GET", "backup-policies")) < calls.index(("PATCH", "bp03devday"))


def test_the_estimate_is_read_beside_the_send_and_shown_with_the_result(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """With no storage bound to judge, the backups the estimate is made from are only shown: the PATCH does not
    wait for them, and the result in the channel still carries the estimate."""
    answering = threading.Event()
    planetscale.add_fault(Fault(until=answering, method="GET", path_contains="/backups"))
    patched_while_held: list[bool] = []

    def release() -> None:
        deadline = time.monotonic() + 60
        while not planetscale.calls("PATCH") and time.monotonic() < deadline:
            time.sleep(0.01)
        patched_while_held.append(bool(planetscale.calls("PATCH")))
        answering.set()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        reply = bot.command("update acme/app-db bp03devday retention=9d")
    finally:
        releaser.join()
    assert patched_while_held == [True]
    [posted] = reply.public
    assert "Applied" in text_of(posted.blocks) or "applied" in text_of(posted.blocks)
    assert "from the latest successful backup of each branch" in text_of(posted.blocks)


def test_an_estimate_read_failing_beside_the_send_says_so_and_the_change_stands(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_fault(Fault(status=403, method="GET", path_contains="/backups", times=None))
    reply = bot.command("update acme/app-db bp03devday retention=9d")
    assert len(patches(planetscale)) == 1
    [posted] = reply.public
    assert "its backups could not be read" in text_of(posted.blocks)
    assert [e.action for e in bot.audit.all()] == ["requested", "sending", "applied"]
