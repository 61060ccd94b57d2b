"""Every message and view the bot builds, from random policies, names, reasons and lists, is one Slack takes:
the Slack emulator's validator refuses none of them, no section is empty, and no cut splits an escape."""

from __future__ import annotations

import json
import os
import re
import string
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.access import Capability
from bot.domain.access_rules import Rule
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.changes import ChangePlan
from bot.domain.commands import SLUG, DatabaseRef
from bot.domain.grammar import MAX_REASON_LENGTH
from bot.domain.guardrails import PATTERN_CHARACTERS, matches_some_name
from bot.domain.policy import MAX_INT32, BackupPolicy, PolicyUpdate
from bot.emulators.block_kit import check_message, view_problems
from handlers import blocks
from handlers.blocks import STATE_LINES
from handlers.views.edit import EditMetadata

EXAMPLES = max(50, int(os.environ.get("FUZZ_EXAMPLES", "1500")) // 10)
SLACK_SPECIAL = "&<>*_~`\"\\|:@!#^\n\t\x00\x01\x1f "
TEXT = st.characters(blacklist_categories=("Cs",))
# The longest each can be once escaped or JSON-encoded, drawn often: random text alone seldom reaches them.
WORST_NAMES = ["&<" * 127 + "&", "&" * 255, "<!channel>" * 25 + "<<<<<", "<@U0ALICE001>" * 19 + "&&&&&&&&",
               '"\\' * 127 + '"', "\x01" * 255, "*_~`" * 63 + "***"]
NAMES = st.one_of(
    st.sampled_from(WORST_NAMES),
    st.text(TEXT, min_size=1, max_size=255),
    st.text(st.sampled_from(SLACK_SPECIAL + "aé😀"), min_size=200, max_size=255),
    st.builds(lambda ch, n: ch * n, st.sampled_from(list(SLACK_SPECIAL)), st.integers(240, 255)),
)
ESCAPE_HEAVY = ["&<" * 127 + "&", "&" * 255, ">" * 255, "<&>" * 85]  # four or five characters each, escaped
OFTEN_WORST_NAMES = st.one_of(st.sampled_from(ESCAPE_HEAVY), st.sampled_from(WORST_NAMES), NAMES)
REASONS = st.one_of(st.none(), st.sampled_from(["&" * MAX_REASON_LENGTH, "<@U0ALICE001>&" * 35, '"' * 500]),
                    st.text(TEXT, min_size=1, max_size=MAX_REASON_LENGTH),
                    st.text(st.sampled_from(SLACK_SPECIAL + "<@U0ALICE001>x"), min_size=400,
                            max_size=MAX_REASON_LENGTH))
LONG_TEXT = st.one_of(st.text(TEXT, min_size=1, max_size=200),
                      st.text(st.sampled_from(SLACK_SPECIAL + "ab"), min_size=1, max_size=5000))
SLUGS = st.from_regex(SLUG, fullmatch=True)
DATABASES = st.builds(DatabaseRef, SLUGS, SLUGS)
STAMPS = st.one_of(st.none(), st.integers(0, 4_000_000_000).map(
    lambda t: datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")), st.just("not a date"))
USERS = st.integers(0, 10**10).map(lambda n: f"U{n:010d}")
PRINCIPALS = st.one_of(USERS, st.integers(0, 10**10).map(lambda n: f"S{n:010d}"),
                       st.sampled_from(["@dba-team", "@dba-leads", "@a-rather-long-group-handle-for-sure"]))


@st.composite
def policies(draw: st.DrawFn) -> BackupPolicy:
    unit = draw(st.sampled_from(["hour", "day", "week", "month"]))
    name = draw(OFTEN_WORST_NAMES)
    return BackupPolicy(
        id=f"bp{draw(st.integers(0, 10**10)):010d}", display_name=f"Backup policy {name}", name=name,
        target=draw(st.sampled_from(["production", "development"])),
        retention_value=draw(st.integers(1, MAX_INT32)),
        retention_unit=draw(st.sampled_from(["hour", "day", "week", "month", "year"])),
        frequency_value=draw(st.integers(1, MAX_INT32)), frequency_unit=unit,
        schedule_time=f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
        schedule_day=draw(st.integers(0, 6)) if unit in ("week", "month") else None,
        schedule_week=draw(st.integers(0, 3)) if unit == "month" else None,
        created_at="2024-01-01T00:00:00.000Z", updated_at=draw(STAMPS) or "2024-01-01T00:00:00.000Z",
        last_ran_at=draw(STAMPS), next_run_at=draw(STAMPS), required=draw(st.booleans()))


@st.composite
def updates(draw: st.DrawFn, before: BackupPolicy) -> PolicyUpdate:
    """A change the models accept; the rules between fields are not this test's concern."""
    fields = draw(st.fixed_dictionaries({}, optional={
        "name": OFTEN_WORST_NAMES.filter(lambda n: n.strip() and not any(ord(c) < 32 for c in n)),
        "target": st.sampled_from(["production", "development"]),
        "retention_value": st.integers(1, MAX_INT32),
        "retention_unit": st.sampled_from(["hour", "day", "week", "month", "year"]),
        "frequency_value": st.integers(1, MAX_INT32),
        "frequency_unit": st.sampled_from(["hour", "day", "week", "month"]),
        "schedule_time": st.just("23:59"), "schedule_day": st.integers(0, 6), "schedule_week": st.integers(0, 3),
    }))
    assume(fields)
    try:
        return PolicyUpdate(**fields)
    except ValidationError:
        assume(False)
        raise


@st.composite
def requests(draw: st.DrawFn) -> ChangeRequest:
    before = draw(policies())
    update = draw(updates(before))
    state = draw(st.sampled_from(sorted(STATE_LINES)))
    after = None
    if state == "applied" and draw(st.booleans()):  # a request settled by reading may hold no policy after it
        after = {**before.model_dump(), **update.to_api()}
    return ChangeRequest(
        organization=draw(SLUGS), database=draw(SLUGS), policy_id=before.id, policy_name=before.name,
        requester=draw(USERS), channel="C0DBAOPS01", before=before.model_dump(), changes=update.to_api(),
        approvals_needed=draw(st.integers(0, 400)), approvers=draw(st.lists(PRINCIPALS, max_size=300)),
        expires_at=draw(st.floats(0, 4e9)), reason=draw(REASONS),
        risks=draw(st.lists(st.text(TEXT, min_size=1, max_size=200), max_size=8)),
        revert_of=draw(st.one_of(st.none(), st.just("0f" * 16))), state=state, after=after,
        detail=draw(st.one_of(st.none(), LONG_TEXT)), decided_by=draw(st.one_of(st.none(), USERS)))


# As the store dates an entry it records.
STORED_AT = "2026-01-31T12:00:00Z"


@st.composite
def audit_events(draw: st.DrawFn) -> AuditEvent:
    before = draw(policies())
    sent = draw(st.one_of(st.none(), updates(before).map(PolicyUpdate.to_api)))
    if draw(st.booleans()):  # renames make the longest entries
        sent = {**(sent or {}), "name": draw(OFTEN_WORST_NAMES.filter(lambda n: n.strip() and n.isprintable()))}
    return AuditEvent(
        action=draw(st.sampled_from(["requested", "applied", "failed", "refused", "dry_run", "approved"])),
        actor=draw(USERS), organization="acme", database="app-db", policy_id=before.id,
        policy_name=draw(st.one_of(st.just(before.name), st.none())),
        before=before.model_dump() if sent else None, sent=sent,
        reason=draw(REASONS), detail=draw(st.one_of(st.none(), LONG_TEXT)), at=STORED_AT)


# The worst cases, always tried besides the random ones: renames between the names that escape longest.
NAME_A, NAME_B = ESCAPE_HEAVY[0], "<&" * 127 + "<"


def worst_policy(name: str = NAME_A, number: int = 0) -> BackupPolicy:
    return BackupPolicy(id=f"bp{number:010d}", display_name=f"Backup policy {name}", name=name, target="production",
                        retention_value=MAX_INT32, retention_unit="year", frequency_value=MAX_INT32,
                        frequency_unit="month", schedule_time="23:59", schedule_day=6, schedule_week=3,
                        created_at="x", updated_at="x", last_ran_at=None, next_run_at=None, required=True)


WORST_CHANGE = {"name": NAME_B, "target": "development", "retention_value": 1, "retention_unit": "hour",
                "frequency_value": 1, "frequency_unit": "hour", "schedule_time": "00:00"}
WORST_REASON = "<@U0ALICE001>&" * 35
WORST_EVENT = AuditEvent(action="requested", actor="U0ALICE001", organization="acme", database="app-db",
                         policy_id="bp0000000000", policy_name=NAME_A, before=worst_policy().model_dump(),
                         sent=WORST_CHANGE, reason=WORST_REASON, detail="&" * 3000, at=STORED_AT)


def worst_request(state: str = "pending") -> ChangeRequest:
    return ChangeRequest(
        organization="o" * 64, database="d" * 64, policy_id="bp0000000000", policy_name=NAME_A,
        requester="U0ALICE001", channel="C0DBAOPS01", before=worst_policy().model_dump(), changes=WORST_CHANGE,
        approvals_needed=400, approvers=[f"S{n:010d}" for n in range(300)], expires_at=4e9, reason=WORST_REASON,
        risks=["&" * 200] * 8, revert_of="0f" * 16, state=RequestState(state), detail="&" * 3000,
        decided_by="U0BOB00001",
        after={**worst_policy().model_dump(), **WORST_CHANGE} if state == "applied" else None)


def many(items: st.SearchStrategy[Any], most: int) -> st.SearchStrategy[list[Any]]:
    """Up to `most` items, cycled from a few drawn ones: long lists without the cost of drawing each item."""
    return st.builds(lambda pool, count: (pool * count)[:count], st.lists(items, min_size=1, max_size=4),
                     st.integers(0, most))


def texts(value: Any) -> list[tuple[str, str]]:
    """(type, text) of every text object in blocks or a view."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            found.append((value["type"], value["text"]))
        for item in value.values():
            found += texts(item)
    elif isinstance(value, list):
        for item in value:
            found += texts(item)
    return found


def assert_sound(value: Any) -> None:
    """No mrkdwn text holds half an escape or half a `<…>` token: everything the bot writes is escaped first."""
    for kind, text in texts(value):
        if kind == "mrkdwn":
            rest = re.sub(r"<[@#!][^<>\n]*>", "", re.sub(r"&(amp|lt|gt);", "", text))
            assert not re.search(r"[&<>]", rest), text


def assert_message(text: str, built: list[dict[str, Any]]) -> None:
    refusal = check_message(text, built)
    assert refusal is None, (refusal, json.dumps(built, ensure_ascii=False)[:2000])
    assert_sound(built)


def assert_view(view: dict[str, Any]) -> None:
    problems = view_problems(view)
    assert problems == [], problems
    assert_sound(view)


FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
FUZZ_LISTS = settings(FUZZ, max_examples=max(20, EXAMPLES // 4))  # each example holds many requests or events


def rule_naming(organization: str, database: str, approvals: int) -> Rule:
    return Rule(organizations=[organization], databases=[database], editors=["U0ALICE001"],
                approvers=["U0CAROL001"], approvals=approvals)


# Every character a rule's pattern may hold (the rules file refuses the others): Slack's markup characters among them.
# A pattern no name can match (a `!` or an unpaired bracket read as itself) is refused too: such a one loses them.
PATTERN = st.text(st.sampled_from(sorted(PATTERN_CHARACTERS | set(string.ascii_uppercase))), min_size=1,
                  max_size=400).map(lambda p: p if matches_some_name(p) else
                                    p.replace("!", "").replace("[", "").replace("]", "") or "*")
CAPABILITIES = st.builds(Capability, st.builds(rule_naming, PATTERN, PATTERN, st.integers(0, 10)),
                         st.booleans(), st.booleans())


@FUZZ
@given(many(CAPABILITIES, 60), st.sampled_from(["/backup-policy", "/bp"]))
def test_help_is_always_a_message_slack_takes(capabilities: list[Capability], command: str) -> None:
    assert_message("How to use it", blocks.help_blocks(command, capabilities))


@FUZZ
@given(DATABASES, many(policies(), 150))
@example(DatabaseRef("o" * 64, "d" * 64), [worst_policy(NAME_A, n) for n in range(150)])
def test_a_list_of_any_length_is_a_message_slack_takes(db: DatabaseRef, listed: list[BackupPolicy]) -> None:
    built = blocks.policy_list_blocks(db, listed)
    assert_message(f"Backup policies of {db}", built)
    text = json.dumps(built, ensure_ascii=False)
    assert "more not shown" in text or all(f"`{p.id}`" in text for p in listed)


@FUZZ
@given(DATABASES, policies())
def test_a_policy_in_full_is_a_message_slack_takes(db: DatabaseRef, policy: BackupPolicy) -> None:
    assert_message(policy.name, blocks.policy_detail_blocks(db, policy, editable=True))


@FUZZ
@given(DATABASES, st.data(), REASONS, st.integers(0, 5))
def test_a_dry_run_is_a_message_slack_takes(db: DatabaseRef, data: st.DataObject, reason: str | None,
                                            approvals: int) -> None:
    before = data.draw(policies())
    plan = ChangePlan(db, before, data.draw(updates(before)), reason)
    assert_message("Dry run", blocks.dry_run_blocks(plan, approvals))


@FUZZ
@given(requests(), st.lists(USERS, max_size=400))
@example(worst_request("pending"), [f"U{n:010d}" for n in range(400)])
@example(worst_request("applied"), [f"U{n:010d}" for n in range(400)])
@example(worst_request("failed"), [])
def test_a_request_in_every_state_with_any_approvers_is_a_message_slack_takes(
    request: ChangeRequest, approved_by: list[str]
) -> None:
    assert_message(blocks.request_headline(request), blocks.request_blocks(request, approved_by))


@FUZZ_LISTS
@given(DATABASES, many(audit_events(), 80), st.one_of(st.none(), NAMES))
@example(DatabaseRef("o" * 64, "d" * 64), [WORST_EVENT] * 80, NAME_A)
def test_history_of_any_length_is_a_message_slack_takes(db: DatabaseRef, events: list[AuditEvent],
                                                        policy: str | None) -> None:
    assert_message(f"History of {db}", blocks.history_blocks(db, events, policy))


@FUZZ_LISTS
@given(many(requests(), blocks.MAX_PENDING_SHOWN + 2), USERS)
@example([worst_request()] * (blocks.MAX_PENDING_SHOWN + 2), "U0BOB00001")
def test_pending_requests_are_a_message_slack_takes(pending: list[ChangeRequest], user: str) -> None:
    assert_message("open requests", blocks.pending_blocks(pending, len(pending), user))


@FUZZ
@given(DATABASES, policies(), st.one_of(st.none(), LONG_TEXT), st.sampled_from(["hour", "week", "month"]))
def test_the_edit_form_is_a_view_slack_takes(db: DatabaseRef, policy: BackupPolicy, notice: str | None,
                                             unit: str) -> None:
    metadata = EditMetadata(organization=db.organization, database=db.database, channel="C0DBAOPS01",
                            policy=policy.model_dump())
    assert EditMetadata.model_validate_json(metadata.dump()).policy["name"] == policy.name
    values = {**policy.model_dump(), "frequency_unit": unit}
    assert_view(blocks.edit_form_view(db, values, metadata.dump(), notice and blocks.escape(notice)))


@FUZZ
@given(DATABASES, st.data(), REASONS, st.integers(0, 5))
def test_the_confirm_view_is_a_view_slack_takes(db: DatabaseRef, data: st.DataObject, reason: str | None,
                                                approvals: int) -> None:
    before = data.draw(policies())
    update = data.draw(updates(before))
    metadata = EditMetadata(organization=db.organization, database=db.database, channel="C0DBAOPS01",
                            policy=before.model_dump(), update=update.to_api(), reason=reason).dump()
    if not any(ord(c) < 32 for c in before.name):
        # A name and a reason the form takes always fit; only control characters (six each in JSON) may not,
        # and then the form asks for a shorter reason instead of showing this view.
        assert len(metadata) <= blocks.MAX_PRIVATE_METADATA
    assume(len(metadata) <= blocks.MAX_PRIVATE_METADATA)
    assert_view(blocks.edit_confirm_view(ChangePlan(db, before, update, reason), metadata, approvals))


@FUZZ
@given(st.text(TEXT, min_size=1, max_size=100), LONG_TEXT.filter(str.strip))
def test_message_views_are_views_slack_takes(title: str, text: str) -> None:
    assert_view(blocks.message_view(title, blocks.error_text(blocks.escape(text))))
    assert_view(blocks.loading_view())


@given(st.text(st.sampled_from("&<>@!U0A ab|^"), min_size=1, max_size=400).map(blocks.with_mentions),
       st.integers(1, 300))
def test_fit_keeps_the_limit_and_never_splits_an_escape(text: str, limit: int) -> None:
    fitted = blocks.fit(text, limit)
    assert len(fitted) <= limit and fitted
    assert fitted == text or fitted.endswith("…")
    assert not re.search(r"&[a-z]{0,3}$", fitted.removesuffix("…"))
