"""A bulk change one of whose policies meets a passing failure at PlanetScale (a 500 or a 429 on its reads)
when it is approved, through Bolt's pipeline on SQLite and PostgreSQL: the others go ahead at once, the one
that failed is told on its own (which policy, why, what happens next), tried again at the sweep's next turn,
and once its request's life has passed closed as failed, recorded and offered again; the rest stand applied.

Before the fix the approval answered 'Nothing was sent: … (500) … click Approve again in a moment' for all of
them, and each sweep judged the whole change again, until it expired."""

from __future__ import annotations

import itertools

import pytest
from access_rules import storage_bound
from approval_helpers import CAROL, RULES, approvals_bot, second_instance, sweep
from backup_reads import closed_past, moved_clock
from conftest import Bot
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from test_bulk import add_databases, button, channel_messages, patched, policy, shown

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DAY = 24 * 3600.0
CLIENT_TRIES = 4  # the PlanetScale client's own tries of one call
ANSWER = st.sampled_from([200, 404, 429, 500])
_names = itertools.count(1)


def _line(view: str, database: str) -> str:
    return next(line for line in view.split("\\n") if f"`{database}`" in line)


def _asked_then_failing(bot: Bot, planetscale: PlanetScaleState, prefix: str, status: int) -> tuple[list[str], Fault]:
    """Three databases' production policies asked to keep 14 days under a storage bound (read again when
    approved), then every GET of the second database answered `status`."""
    bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7TB"))
    dbs = add_databases(planetscale, prefix, 3)
    bot.command(f'update acme/{prefix}-* "Production daily" retention=14d')
    fault = planetscale.add_fault(Fault(status=status, method="GET", path_contains=f"/databases/{dbs[1]}/",
                                        retry_after="0" if status == 429 else None, times=None))
    return dbs, fault


@pytest.mark.parametrize("status", [500, 429])
def test_a_passing_failure_on_one_policy_of_a_bulk_change_holds_only_that_one_until_it_passes(
    approvals_bot: Bot, planetscale: PlanetScaleState, status: int
) -> None:
    now = moved_clock(approvals_bot)
    dbs, fault = _asked_then_failing(approvals_bot, planetscale, f"pass{status}", status)
    [message] = channel_messages(approvals_bot)
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    view = shown(approvals_bot, message)
    told = view + repr([e.text for e in reply.private])
    assert policy(planetscale, dbs[0])["retention_value"] == 14, told
    assert policy(planetscale, dbs[2])["retention_value"] == 14, told
    assert not any(f"/databases/{dbs[1]}/" in p for p in patched(planetscale)), told
    waiting = _line(view, dbs[1])
    assert f"({status})" in waiting and "waiting on PlanetScale" in waiting, waiting
    assert "tries it again at its next sweep" in waiting and "closes it as failed" in waiting, waiting
    assert ":white_check_mark:" not in waiting

    planetscale.faults.remove(fault)
    now[0] += 120
    sweep(approvals_bot)
    view = shown(approvals_bot, message)
    assert policy(planetscale, dbs[1])["retention_value"] == 14, view
    assert "Applied to 3 of 3" in view, view
    assert sorted(patched(planetscale)) == sorted(
        f"/organizations/acme/databases/{db}/backup-policies/{db}-prod" for db in dbs)


def test_a_policy_whose_failure_does_not_pass_is_closed_as_failed_and_the_rest_stand_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    now = moved_clock(approvals_bot)
    dbs, _ = _asked_then_failing(approvals_bot, planetscale, "stuck", 500)
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    for _ in range(2):  # the next turns: still failing, still waiting
        now[0] += 120
        sweep(approvals_bot)
    still = _line(shown(approvals_bot, message), dbs[1])
    assert "(500)" in still and "tries it again" in still and ":x:" not in still, still
    closed_past(approvals_bot, now, DAY)  # past the life of its request
    view = shown(approvals_bot, message)
    line = _line(view, dbs[1])
    assert ":x: not applied" in line and "(500)" in line, line
    assert "Applied to 2 of 3" in view and BULK_RETRY in view, view
    assert policy(planetscale, dbs[0])["retention_value"] == 14 and policy(planetscale, dbs[2])["retention_value"] == 14
    assert policy(planetscale, dbs[1])["retention_value"] == 2
    failed = [e for e in approvals_bot.audit.all() if e.action in ("failed", "expired") and e.database == dbs[1]]
    assert failed and failed[-1].request_id, [(e.action, e.database, e.detail) for e in approvals_bot.audit.all()]
    assert not any(f"/databases/{dbs[1]}/" in p for p in patched(planetscale))



@hypothesis_settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.lists(st.tuples(ANSWER, ANSWER), min_size=1, max_size=4))
def test_whatever_planetscale_answers_each_policy_no_policy_blocks_another_and_each_ends_told(
    approvals_bot: Bot, planetscale: PlanetScaleState, answers: list[tuple[int, int]]
) -> None:
    """Each policy's GETs and PATCHes answered (200, 404, 429 or 500) while the change is approved, then
    PlanetScale recovers and the sweep runs, until past the requests' life: every policy whose answers were all
    200 is applied by the click itself, each is PATCHed at most once once PlanetScale answers (the client's own
    tries of one send aside), and each ends applied, failed or refused, with its reason in the message."""
    now = moved_clock(approvals_bot)
    prefix = f"hp{next(_names)}"
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7TB"))
    dbs = add_databases(planetscale, prefix, len(answers))
    approvals_bot.command(f'update acme/{prefix}-* "Production daily" retention=14d')
    message = channel_messages(approvals_bot)[-1]
    for db, (get, patch) in zip(dbs, answers, strict=True):
        for method, status in (("GET", get), ("PATCH", patch)):
            if status != 200:
                planetscale.add_fault(Fault(status=status, method=method, path_contains=f"/databases/{db}/",
                                            retry_after="0" if status == 429 else None, times=None))
    planetscale.clear_record()
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    at_click = patched(planetscale)
    for db, answer in zip(dbs, answers, strict=True):
        path = f"/organizations/acme/databases/{db}/backup-policies/{db}-prod"
        assert at_click.count(path) <= CLIENT_TRIES
        if answer == (200, 200):  # no other policy's answers held it back
            assert policy(planetscale, db)["retention_value"] == 14, shown(approvals_bot, message)
    planetscale.faults.clear()
    planetscale.clear_record()
    for step in (120, 120, DAY, 120, 120):
        now[0] += step
        sweep(approvals_bot)
    after = patched(planetscale)
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None
    members = {m.request.database: m for m in approvals_bot.deps.store.batch_members(batch.id)}
    view = shown(approvals_bot, message)
    for db, answer in zip(dbs, answers, strict=True):
        path = f"/organizations/acme/databases/{db}/backup-policies/{db}-prod"
        assert after.count(path) <= 1, (answer, after)
        member = members[db]
        assert member.done, (answer, member.request.state, view)
        line = _line(view, db)
        if member.request.state is RequestState.APPLIED:
            assert policy(planetscale, db)["retention_value"] == 14
        else:
            assert member.request.detail and ":white_check_mark:" not in line, (answer, line)
