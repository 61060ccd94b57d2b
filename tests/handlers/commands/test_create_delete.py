"""`create` and `delete` through Bolt's real pipeline on SQLite and PostgreSQL: judged like any change (rules by
target, guardrails, approvals, judged again under the lease), audited, revertible; and what they cost shown in
every preview."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from approval_helpers import (
    ALICE,
    CAROL,
    RULES,
    approvals_bot,
    latest_view,
    request_id,
    request_message,
    second_instance,
    sweep,
)
from conftest import Bot

from bot.domain.change_requests import ChangeKind, RequestState
from bot.domain.policy import planned_policy
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.planetscale_schedule import iso_time, utc_now
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

NIGHTLY = 'name="Nightly" target=development retention=7d frequency=1d at=02:00'
PROD_NIGHTLY = 'name="Prod nightly" target=production retention=14d frequency=1d at=01:00 reason="audit"'
WEEKLY = "bp02prodwk"  # production, not required
REQUIRED = "bp01prod12h"  # production, required: true


def policies_named(planetscale: PlanetScaleState, name: str) -> list[dict[str, object]]:
    return [p for p in planetscale.policies[("acme", "app-db")].values() if p["name"] == name]


def revert_value(bot: Bot, message_ts: str) -> str:
    shown = [e for e in bot.slack.events if e.ts == message_ts and e.kind in ("message", "update")][-1]
    for block in shown.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == REVERT:
                return str(element["value"])
    raise AssertionError("no Revert button")


def test_a_development_policy_is_created_at_once_posted_with_its_cost_and_audited(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    assert [c.body for c in planetscale.calls("POST")] == [{
        "name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
        "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}]
    [made] = policies_named(planetscale, "Nightly")
    made_at = datetime.fromisoformat(str(made["created_at"]).replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - made_at).total_seconds()) < 120  # stamped now, as PlanetScale does
    shown = latest_view(approvals_bot, request_message(approvals_bot))
    assert "created the backup policy" in shown and "Kept at once:* none → 7 backups" in shown
    assert "Estimated storage:* nothing → 8.8 GB" in shown
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.kind is ChangeKind.CREATE and request.state is RequestState.APPLIED
    assert request.policy_id == made["id"]
    actions = [e.action for e in approvals_bot.audit.all() if e.request_id == request.id]
    assert actions == ["requested", "sending", "applied"]
    assert "Checking your new policy" in reply.ack_text


def test_a_production_policy_waits_for_its_approval_before_anything_is_posted(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    message = request_message(approvals_bot)
    assert "asks to create" in latest_view(approvals_bot, message) and planetscale.calls("POST") == []
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert len(planetscale.calls("POST")) == 1 and len(policies_named(planetscale, "Prod nightly")) == 1
    assert "created the backup policy" in latest_view(approvals_bot, message)


def test_a_creation_missing_a_setting_or_with_a_taken_name_is_refused_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    short = approvals_bot.command('create acme/app-db name="Nightly" target=development', user=ALICE)
    assert "`retention=7d`" in short.ack_text and "`at=02:00`" in short.ack_text
    taken = approvals_bot.command('create acme/app-db name="Development daily" target=development retention=7d '
                                  'frequency=1d at=02:00', user=ALICE)
    assert "already has a policy named “Development daily”" in taken.all_text() and "bp03devday" in taken.all_text()
    assert planetscale.calls("POST") == [] and approvals_bot.deps.store.requests(list(RequestState)) == []


def test_two_creations_of_one_name_race_and_the_second_is_refused_when_it_applies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Both asked while the name is free; the first applied; the second, judged again under the database's lease,
    finds the name taken and sends nothing."""
    approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    first, second = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                     and e.channel in approvals_bot.slack.channels]
    approvals_bot.click(APPROVE, request_id(first), user=CAROL, message=first)
    reply = approvals_bot.click(APPROVE, request_id(second), user=CAROL, message=second)
    assert len(planetscale.calls("POST")) == 1 and len(policies_named(planetscale, "Prod nightly")) == 1
    assert "was made in PlanetScale since the request" in reply.all_text()
    later = approvals_bot.deps.store.get_request(request_id(second))
    assert later is not None and later.state is RequestState.FAILED


def test_a_required_policy_is_refused_before_anything_is_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = approvals_bot.command(f"delete acme/app-db {REQUIRED}", user=ALICE)
    assert "required system policy" in reply.all_text()
    assert planetscale.calls("DELETE") == [] and approvals_bot.deps.store.requests(list(RequestState)) == []
    assert not [e for e in reply.events if e.kind == "message" and e.channel in approvals_bot.slack.channels]


def test_a_deletion_is_approved_applied_and_reverted_to_the_policy_as_it_was(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    was = planetscale.policy("acme", "app-db", WEEKLY)
    preview = approvals_bot.command(f"delete acme/app-db {WEEKLY} --dry-run", user=ALICE)
    assert "Kept at once:* 4 backups → none" in preview.all_text() and "`DELETE` of `bp02prodwk`" in preview.all_text()
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    message = request_message(approvals_bot)
    assert "asks to delete" in latest_view(approvals_bot, message) and planetscale.calls("DELETE") == []
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert [c.path for c in planetscale.calls("DELETE")] == [f"/organizations/acme/databases/app-db/backup-policies/"
                                                             f"{WEEKLY}"]
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]
    approvals_bot.click(REVERT, revert_value(approvals_bot, message.ts), user=ALICE, message=message)
    revert = [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.revert_of == request_id(message)]
    assert len(revert) == 1 and revert[0].kind is ChangeKind.CREATE and revert[0].state is RequestState.PENDING
    approvals_bot.click(APPROVE, revert[0].id, user=CAROL)
    [again] = policies_named(planetscale, "Production weekly")
    fields = ("target", "retention_value", "retention_unit", "frequency_value", "frequency_unit", "schedule_time",
              "schedule_day", "schedule_week")
    assert {f: again[f] for f in fields} == {f: was[f] for f in fields} and again["id"] != WEEKLY


def test_reverting_a_creation_deletes_the_policy_it_made(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    message = request_message(approvals_bot)
    [made] = policies_named(planetscale, "Nightly")
    approvals_bot.click(REVERT, revert_value(approvals_bot, message.ts), user=ALICE, message=message)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("DELETE")] == [made["id"]]
    assert policies_named(planetscale, "Nightly") == []


def test_a_policy_deleted_elsewhere_between_asking_and_applying_is_told_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"delete acme/app-db {WEEKLY}", user=ALICE)
    message = request_message(approvals_bot)
    planetscale.dashboard_delete("acme", "app-db", WEEKLY)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("DELETE") == [] and "deleted elsewhere" in reply.all_text()
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED


def test_a_policy_changed_elsewhere_before_its_deletion_applies_is_not_deleted(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"delete acme/app-db {WEEKLY}", user=ALICE)
    message = request_message(approvals_bot)
    planetscale.dashboard_change("acme", "app-db", WEEKLY, retention_value=52)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("DELETE") == [] and "changed in PlanetScale since the request" in reply.all_text()


def test_rules_changed_after_a_creation_was_asked_refuse_it_when_approved(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    message = request_message(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=1).replace('editors = ["@dba-team"]', 'editors = ["U0DAVE0001"]',
                                                              1))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("POST") == [] and "may no longer make this change" in reply.all_text()


def test_the_floor_of_policies_refuses_a_deletion_and_a_move_out_of_production(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_policies = 2
""")
    deleted = approvals_bot.command(f"delete acme/app-db {WEEKLY}", user=ALICE)
    assert "production policies of acme/app-db would be 1, at least 2 required" in deleted.all_text()
    moved = approvals_bot.command(f"update acme/app-db {WEEKLY} target=development", user=ALICE)
    assert "would be 1, at least 2 required" in moved.all_text()
    assert approvals_bot.deps.store.requests(list(RequestState)) == []
    created = approvals_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    assert "at least" not in created.all_text() and len(approvals_bot.deps.store.requests()) == 1


def test_the_floor_is_judged_again_when_a_deletion_applies(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Asked with three production policies; one deleted elsewhere before it applies: the floor refuses it."""
    planetscale.add_policy("acme", "app-db", "bp09prodextra", name="Extra", target="production")
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_policies = 2
""")
    approvals_bot.command(f"delete acme/app-db {WEEKLY}", user=ALICE)
    message = request_message(approvals_bot)
    planetscale.dashboard_delete("acme", "app-db", "bp09prodextra")
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("DELETE") == [] and "at least 2 required" in reply.all_text()


def test_max_storage_bounds_a_longer_retention_naming_the_estimate_and_the_nearest_retention(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "6GB"
""")
    reply = approvals_bot.command(f"update acme/app-db {WEEKLY} retention=8w", user=ALICE)
    said = reply.all_text()
    assert "about 10.0 GB kept (8 backups of 1.2 GB), at most 6.0 GB allowed" in said and "`retention=4w`" in said
    preview = approvals_bot.command(f"update acme/app-db {WEEKLY} retention=3w --dry-run", user=ALICE)
    assert "meets guardrail 1" in preview.all_text() and "Kept at once:* 4 backups → 3 backups" in preview.all_text()
    assert planetscale.calls("PATCH") == []


def test_a_post_whose_answer_is_lost_is_sent_once_and_settled_by_reading(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_fault(Fault(status=504, method="POST", landed=True))
    approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    assert len(planetscale.calls("POST")) == 1 and len(policies_named(planetscale, "Nightly")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    [made] = policies_named(planetscale, "Nightly")
    assert request.state is RequestState.APPLIED and request.policy_id == made["id"]


def test_planetscale_refusing_a_deletion_is_told_and_the_policy_stays(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_fault(Fault(status=403, method="DELETE"))
    approvals_bot.command(f"delete acme/app-db {WEEKLY}", user=ALICE)
    message = request_message(approvals_bot)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "403" in reply.all_text() and WEEKLY in planetscale.policies[("acme", "app-db")]
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED


def test_status_shows_each_policys_estimate(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    said = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    assert "4 backups kept at once, about 5.0 GB" in said  # every 12 hours kept 2 days, of 1.25 GB
    assert "3 backups kept at once, about 3.8 GB" in said  # daily kept 3 days


def left_applying(bot: Bot, kind: ChangeKind, policy_id: str, before: dict[str, object],
                  changes: dict[str, object]) -> str:
    """A request its worker left applying after sending (a crash): its lease run out, its `sending` recorded."""
    from bot.domain.audit import iso_of
    from bot.domain.change_requests import ChangeRequest
    from bot.domain.outcomes import request_event

    store = bot.deps.store
    long_ago = time.time() - 3600
    request = ChangeRequest(
        organization="acme", database="app-db", policy_id=policy_id, policy_name=str(before["name"]),
        requester=ALICE, channel="C0DBAOPS01", before=before, changes=changes, approvals_needed=0, approvers=[],
        expires_at=time.time() + 3600, state=RequestState.APPLYING, kind=kind, lease_until=long_ago,
        created_at=long_ago, updated_at=long_ago)
    store.add_request(request, record=request_event("sending", request, ALICE, at=iso_of(long_ago)))
    return request.id


def test_the_sweep_settles_a_creation_and_a_deletion_a_crash_left_applying(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    values = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
              "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}
    created = left_applying(approvals_bot, ChangeKind.CREATE, "", planned_policy(values).model_dump(), values)
    # the POST had landed: PlanetScale stamps the policy with when it made it
    made = planetscale.add_policy("acme", "app-db", None, **values, created_at=iso_time(utc_now()))
    deleted = left_applying(approvals_bot, ChangeKind.DELETE, WEEKLY, planetscale.policy("acme", "app-db", WEEKLY),
                            {})
    planetscale.dashboard_delete("acme", "app-db", WEEKLY)  # the DELETE had landed
    sweep(approvals_bot)
    store = approvals_bot.deps.store
    first, second = store.get_request(created), store.get_request(deleted)
    assert first is not None and first.state is RequestState.APPLIED and first.policy_id == made["id"]
    assert second is not None and second.state is RequestState.APPLIED
    assert planetscale.calls("POST") == [] and planetscale.calls("DELETE") == []  # nothing sent again


def test_a_creation_left_applying_whose_post_never_landed_fails_without_posting_again(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    values = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
              "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}
    rid = left_applying(approvals_bot, ChangeKind.CREATE, "", planned_policy(values).model_dump(), values)
    sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.FAILED and "not applied" in str(request.detail)
    assert planetscale.calls("POST") == []


def test_a_move_between_targets_takes_the_databases_lease_with_creations_and_deletions() -> None:
    """So a move out of production and a deletion there cannot both pass the floor of policies at once."""
    from bot.domain.change_requests import ChangeRequest

    def asked(kind: ChangeKind, changes: dict[str, object]) -> ChangeRequest:
        return ChangeRequest(organization="acme", database="app-db", policy_id="bp1", policy_name="p",
                             requester=ALICE, channel="C", before={"target": "production"}, changes=changes,
                             approvals_needed=0, approvers=[], expires_at=0, kind=kind)

    database = asked(ChangeKind.DELETE, {}).policy_key
    assert asked(ChangeKind.UPDATE, {"target": "development"}).policy_key == database
    assert asked(ChangeKind.CREATE, {"name": "x"}).policy_key == database
    assert asked(ChangeKind.UPDATE, {"retention_value": 3}).policy_key != database


def two_creations_at_once(first_bot: Bot, second_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Two requests for one name, approved at once: the first's POST is in flight (held) when the second is
    approved. The second waits for the database's lease, then finds the name taken and sends nothing."""
    first_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    first_bot.command(f"create acme/app-db {PROD_NIGHTLY}", user=ALICE)
    one, two = [e for e in first_bot.slack.events if e.kind == "message" and e.thread_ts is None
                and e.channel in first_bot.slack.channels]
    landing = threading.Event()
    planetscale.add_fault(Fault(method="POST", until=landing, times=1))
    clicking = threading.Thread(target=first_bot.click, args=(APPROVE, request_id(one)),
                                kwargs={"user": CAROL, "message": one})
    clicking.start()
    deadline = time.monotonic() + 60
    while not planetscale.calls("POST"):
        assert time.monotonic() < deadline, "the first POST was never sent"
        time.sleep(0.01)
    second = threading.Thread(target=second_bot.click, args=(APPROVE, request_id(two)),
                              kwargs={"user": CAROL, "message": two})
    second.start()
    time.sleep(0.5)  # the second approval is waiting for the lease (or queued for the sweep)
    landing.set()
    clicking.join(30)
    second.join(30)
    assert first_bot.executor.wait_idle(60) and second_bot.executor.wait_idle(60)
    sweep(second_bot)  # a second left queued for the sweep is judged there
    assert len(planetscale.calls("POST")) == 1 and len(policies_named(planetscale, "Prod nightly")) == 1
    later = first_bot.deps.store.get_request(request_id(two))
    assert later is not None and later.state is RequestState.FAILED
    assert "was made in PlanetScale since the request" in str(later.detail)


def test_two_creations_of_one_name_approved_at_once_make_one_policy(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    two_creations_at_once(approvals_bot, approvals_bot, planetscale)


def test_two_creations_of_one_name_approved_at_once_on_two_instances_make_one_policy(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    two_creations_at_once(approvals_bot, second_instance, planetscale)


@pytest.mark.parametrize("command", ['delete acme/app-db "Dev*"', 'show acme/app-db "Production ?"'])
def test_a_glob_where_one_policy_is_named_is_told_which_commands_take_one(
        approvals_bot: Bot, planetscale: PlanetScaleState, command: str) -> None:
    reply = approvals_bot.command(command)
    said = reply.all_text()
    assert "No backup policy" in said and "only `update` and `edit` take one" in said, said
    assert reply.public == [] and planetscale.calls("DELETE") == []
