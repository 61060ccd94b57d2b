"""Fuzzing with hypothesis: PlanetScale answering anything (names of any length and character, malformed times,
unknown units, duplicates, non-objects, bodies that are not JSON) never stops a watch pass, never leaves a notice
it found unposted, and `status` always answers in words; so do list, show, export, bulk changes, the forms,
creations, deletions and the App Home (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from conftest import ALICE, CHANNEL, Bot, bot_over
from home_helpers import open_home
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.domain.watch_share import WatchShare
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.settings import Settings
from bot.runtime.watch import Watcher, build_watcher

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))  # on each database: 60 in all, as on SQLite alone before
NOW = datetime.now(UTC)

TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=250, max_size=400),
    st.sampled_from(["", "\x00", "nul\x00inside", "\u202eevil", "zero\u200bwidth", "<!channel>", "&amp;",
                     "\ufffeescaped", "a" * 3000, "bp01prod12h", "main", "dev"]),
)
TIMES = st.one_of(
    st.builds(lambda hours: (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
              st.integers(min_value=-100, max_value=5000)),
    st.sampled_from(["", "yesterday", "2026-13-45T99:99:99Z", "2026-02-30T00:00:00Z", "0000-01-01T00:00:00Z",
                     "9999-12-31T23:59:59+14:00", "2026-01-01", "2026-01-01T00:00:00", "0001-01-01T00:00:00",
                     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]),
    st.none(), st.integers(), st.text(max_size=10),
)
UNITS = st.one_of(st.sampled_from(["hour", "day", "week", "month", "year"]), st.sampled_from(["quarter", "", "Day"]),
                  st.integers(), st.none())
NUMBERS = st.one_of(st.sampled_from([0, -1, 2**31 - 1, 2**63, 10**30]), st.integers(), st.floats(allow_nan=True),
                    st.none(), st.text(max_size=3))
IDS = st.one_of(st.sampled_from(["bp01prod12h", "bp02prodwk", "bp03devday", "bpnew", "bp04billing"]), TEXT)


def maybe(value: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], odds: int = 40) -> st.SearchStrategy[Any]:
    """Mostly well-formed values (`odds` to one), sometimes odd ones."""
    return st.integers(min_value=0, max_value=odds).flatmap(lambda n: value if n else odd)


POLICIES = st.fixed_dictionaries({
    "id": IDS, "display_name": TEXT, "name": TEXT,
    "target": maybe(st.sampled_from(["production", "development"]), st.one_of(TEXT, st.none())),
    "retention_value": maybe(st.integers(min_value=1, max_value=30), NUMBERS),
    "retention_unit": maybe(st.sampled_from(["day", "week"]), UNITS),
    "frequency_value": maybe(st.integers(min_value=1, max_value=24), NUMBERS),
    "frequency_unit": maybe(st.sampled_from(["hour", "day"]), UNITS),
    "schedule_time": maybe(st.just("02:00"), TEXT),
    "schedule_day": maybe(st.none(), st.integers()), "schedule_week": maybe(st.none(), st.integers()),
    "created_at": maybe(TIMES, TIMES), "updated_at": maybe(TIMES, TIMES), "last_ran_at": maybe(st.none(), TIMES),
    "next_run_at": maybe(st.none(), TIMES), "required": maybe(st.booleans(), st.none()),
})
BRANCHES = st.fixed_dictionaries({"id": TEXT, "name": maybe(st.sampled_from(["main", "dev"]), TEXT),
                                  "production": maybe(st.booleans(), st.text(max_size=3))})
BACKUPS = st.fixed_dictionaries({
    "id": TEXT, "state": maybe(st.sampled_from(["success", "failed", "running"]), TEXT),
    "size": maybe(st.integers(min_value=0, max_value=10**12), NUMBERS), "created_at": maybe(TIMES, TIMES),
    "started_at": maybe(TIMES, TIMES), "completed_at": maybe(TIMES, TIMES), "expires_at": maybe(TIMES, TIMES),
})
NON_OBJECTS = st.one_of(st.none(), st.integers(), TEXT, st.lists(st.integers(), max_size=2))


def lists_of(items: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A list envelope: items with duplicates and non-objects now and then; or an answer that is no list at all."""
    listed = st.lists(maybe(items, NON_OBJECTS, 20), max_size=6).flatmap(
        lambda found: st.just(found + found[:1]) | st.just(found))
    envelope = st.builds(lambda data: {"type": "list", "current_page": 1, "next_page": None, "prev_page": None,
                                       "data": data}, listed)
    return maybe(envelope, st.sampled_from([b"\xff\xfe not UTF-8", b"{not json", b"[]", b"null", b'{"data": {}}',
                                            b"[" * 5000 + b"]" * 5000]), 12)


ANSWERS = st.fixed_dictionaries({
    "databases": lists_of(st.fixed_dictionaries({"name": maybe(st.sampled_from(["app-db", "billing-db"]), TEXT)})),
    "policies": lists_of(POLICIES),
    "policy": st.one_of(POLICIES, st.just(404), NON_OBJECTS),
    "branches": lists_of(BRANCHES),
    "backups": lists_of(BACKUPS),
})


class AnsweringPlanetScale:
    """PlanetScale at the HTTP edge, answering what the example drew (each list the same whatever the page)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        if path.endswith("/backups"):
            kind = "backups"
        elif path.endswith("/branches"):
            kind = "branches"
        elif path.endswith("/backup-policies"):
            kind = "policies"
        elif "/backup-policies/" in path:
            kind = "policy"
        elif path.endswith("/databases"):
            kind = "databases"
        elif "/databases/" in path and path.count("/") == 5:  # /v1/organizations/{org}/databases/{db}: its kind
            return httpx.Response(200, json={"name": path.rsplit("/", 1)[1], "kind": "mysql"})
        else:
            return httpx.Response(404, json={"code": "not_found", "message": "Not Found"})
        answer = self.answers.get(kind, {"type": "list", "data": [], "next_page": None})
        if answer == 404:
            return httpx.Response(404, json={"code": "not_found", "message": "Not Found"})
        if isinstance(answer, bytes):
            return httpx.Response(200, content=answer, headers={"content-type": "application/json"})
        return httpx.Response(200, content=json.dumps(answer).encode(), headers={"content-type": "application/json"})


@pytest.fixture
def fuzzed(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
           tmp_path: Path, store_url: str) -> Iterator[tuple[Bot, Watcher, AnsweringPlanetScale]]:
    planetscale = AnsweringPlanetScale()
    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, transport=httpx.MockTransport(planetscale))
    for bot in bot_over(client, settings, slack, slack_server, tmp_path, store_url):
        bot.deps.audit_channel = CHANNEL
        watcher = build_watcher(bot.deps, bot.app.client, every=60)
        watcher.watch.share = WatchShare(10**9)  # the examples come faster than any minute's share
        yield bot, watcher, planetscale
        watcher.stop()


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(passes=st.lists(ANSWERS, min_size=1, max_size=3))
def test_any_planetscale_answer_leaves_the_pass_finished_and_what_it_found_posted(
        fuzzed: tuple[Bot, Watcher, AnsweringPlanetScale], passes: list[dict[str, Any]]) -> None:
    bot, watcher, planetscale = fuzzed
    for answers in passes:
        planetscale.answers = answers
        refused = len(bot.slack.refusals)
        result = watcher.run_once()  # raises nothing
        assert result is not None and not result.lost_lease
        event(f"notices found: {min(len(result.notices), 3)}, skipped: {min(len(result.skipped), 3)}")
        assert bot.deps.store.unposted_notices() == []  # every notice found reached the audit channel
        assert bot.slack.refusals[refused:] == []
        reply = bot.command("status acme/app-db")  # Bot.send fails on anything Slack would refuse
        said = reply.all_text()
        assert said.strip() and "Something went wrong" not in said, said


DOORS = ["list acme/app-db", "show acme/app-db bp01prod12h", "export acme/app-db", "export acme/* json",
         'update acme/* "Production daily" retention=3d reason="fuzz"', "update acme/app-db bp01prod12h retention=3d",
         "update acme/app-db bp01prod12h frequency=1d --dry-run", "delete acme/app-db bp03devday",
         "edit acme/app-db bp01prod12h", "edit acme/*",
         'create acme/app-db name="Fuzzed" target=development retention=7d frequency=1d at=02:00']


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(answers=ANSWERS, command=st.sampled_from(DOORS))
def test_any_planetscale_answer_is_told_in_words_at_the_other_doors_and_the_app_home(
        fuzzed: tuple[Bot, Watcher, AnsweringPlanetScale], answers: dict[str, Any], command: str) -> None:
    bot, _, planetscale = fuzzed
    planetscale.answers = answers
    refused = len(bot.slack.refusals)
    said = bot.command(command).all_text()  # Bot.send fails on anything Slack would refuse
    assert "Something went wrong" not in said, (command, said)
    assert bot.slack.refusals[refused:] == []
    assert "Something went wrong" not in json.dumps(open_home(bot, ALICE))
