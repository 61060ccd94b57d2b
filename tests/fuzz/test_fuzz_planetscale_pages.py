"""Fuzzing with hypothesis, wider than test_fuzz_planetscale_answers.py: pages that loop, go back, never end or
name their next page oddly; huge pages; any field of a policy, branch or backup of the wrong type or missing; one
database answering anything while another answers well. The pass always finishes, the well-answering database is
watched as usual (its drift is told), and what was skipped is told once however often it is met again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from conftest import CHANNEL, Bot, make_bot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_fuzz_planetscale_answers import BACKUPS, BRANCHES, NON_OBJECTS, POLICIES, TIMES, maybe

from bot.adapters.planetscale import MAX_PAGES, PlanetScaleClient, RetryPolicy
from bot.adapters.store import Store
from bot.domain.watch_share import WatchShare
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.settings import Settings
from bot.runtime.watch import Watcher, build_watcher
from handlers.watch import SKIPPED_HEADLINE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))

# Any JSON value where a field's value goes (JSON has no infinity: the fake PlanetScale could not send one).
WILD = st.one_of(NON_OBJECTS, st.booleans(), st.floats(allow_nan=False, allow_infinity=False), TIMES,
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just([{"a": 1}]))


def damaged(items: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """An item as drawn, or with one of its fields of a wild type, or missing, or with fields never seen."""
    def damage(item: dict[str, Any], how: int, field: int, value: Any) -> dict[str, Any]:
        key = sorted(item)[field % len(item)]
        if how == 1:
            return {**item, key: value}
        if how == 2:
            return {k: v for k, v in item.items() if k != key}
        if how == 3:
            return {**item, "unexpected_" + key: value}
        return item
    return st.builds(damage, items, st.integers(0, 6), st.integers(0, 50), WILD)


# How an answer names its next page: well, or looping, going back, never ending, or not a page number.
PAGERS = st.sampled_from(["end", "end", "loop", "same", "back", "endless", "huge", "text", "float", "true", "list"])


def next_page(pager: str, page: int, last: int) -> Any:
    return {"end": None if page >= last else page + 1, "loop": 1, "same": page, "back": page - 1,
            "endless": page + 1, "huge": 10**30, "text": str(page + 1), "float": page + 1.0, "true": True,
            "list": [page + 1]}[pager]


def paged(items: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A list answer: its pages (now and then a huge one) and how each names the next."""
    page = st.one_of(st.lists(maybe(damaged(items), NON_OBJECTS, 25), max_size=5),
                     st.builds(lambda item, n: [item] * n, items, st.integers(200, 600)))
    return st.fixed_dictionaries({"pages": st.lists(page, min_size=1, max_size=3), "pager": PAGERS})


ANSWERS = st.fixed_dictionaries({
    "policies": paged(POLICIES), "policy": st.one_of(damaged(POLICIES), NON_OBJECTS),
    "branches": paged(BRANCHES), "backups": paged(BACKUPS),
})
# The database that answers well, and the policy of it changed in the dashboard between two passes.
WELL = "billing-db"
WELL_POLICY = {"id": "bpwell", "display_name": "Backup policy Billing", "name": "Billing", "target": "production",
               "retention_value": 7, "retention_unit": "day", "frequency_value": 1, "frequency_unit": "day",
               "schedule_time": "02:00", "schedule_day": None, "schedule_week": None,
               "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-01T00:00:00.000Z",
               "last_ran_at": None, "next_run_at": None, "required": False}


class PagedPlanetScale:
    """PlanetScale at the HTTP edge: `fuzzed` answers for the database app-db, page by page; billing-db answers
    well, with its one policy's retention `well_retention`."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.well_retention = 7
        self.lists_read = self.pages_read = 0  # lists begun (their first page asked for), and pages asked for
        self.watched_once = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        kind = next((k for k, end in (("backups", "/backups"), ("branches", "/branches"),
                                      ("policies", "/backup-policies")) if path.endswith(end)), None)
        if kind is None and "/backup-policies/" in path:
            kind = "policy"
        if path.endswith("/databases"):
            return self.page([[{"name": "app-db"}, {"name": WELL}]], "end", 1)
        if kind is None:
            return httpx.Response(404, json={"code": "not_found", "message": "Not Found"})
        page = int((parse_qs(request.url.query.decode()).get("page") or ["1"])[0])
        self.lists_read += page == 1
        self.pages_read += 1
        if f"/databases/{WELL}/" in path:
            return self.well(kind, page)
        answer = self.answers.get(kind)
        if answer is None:
            return self.page([[]], "end", page)
        if kind == "policy":
            return httpx.Response(200, content=json.dumps(answer).encode(),
                                  headers={"content-type": "application/json"})
        return self.page(answer["pages"], answer["pager"], page)

    def well(self, kind: str, page: int) -> httpx.Response:
        policy = {**WELL_POLICY, "retention_value": self.well_retention}
        if kind == "policy":
            return httpx.Response(200, json=policy)
        data = {"policies": [policy], "branches": [{"id": "br", "name": "main", "production": True}],
                "backups": []}[kind]
        return self.page([data], "end", page)

    @staticmethod
    def page(pages: list[list[Any]], pager: str, page: int) -> httpx.Response:
        data = pages[min(max(page, 1), len(pages)) - 1]
        # Written as json.dumps writes it: a policy's number may be NaN or Infinity, which httpx's own encoder
        # refuses inside the fake (an error no PlanetScale gives), and which the bot must refuse as not JSON.
        body = {"type": "list", "current_page": page, "prev_page": None,
                "next_page": next_page(pager, page, len(pages)), "data": data}
        return httpx.Response(200, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


@pytest.fixture
def paged_bot(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
              store_url: str) -> Iterator[tuple[Bot, Watcher, PagedPlanetScale]]:
    planetscale = PagedPlanetScale()
    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, transport=httpx.MockTransport(planetscale))
    store = Store(store_url)  # SQLite and PostgreSQL: their limits on text differ
    store.migrate()
    for bot in make_bot(settings, slack, client, store, slack_server):
        bot.deps.audit_channel = CHANNEL
        watcher = build_watcher(bot.deps, bot.app.client, every=60)
        watcher.watch.share = WatchShare(10**9)  # the examples come faster than any minute's share
        yield bot, watcher, planetscale
        watcher.stop()
    store.close()
    client.close()


def posted_since(bot: Bot, cursor: int) -> list[str]:
    events, _ = bot.slack.events_since(cursor)
    return [e.text for e in events if e.kind == "message"]


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(answers=ANSWERS)
def test_any_pages_leave_the_other_database_watched_and_what_was_skipped_told_once(
        paged_bot: tuple[Bot, Watcher, PagedPlanetScale], answers: dict[str, Any]) -> None:
    bot, watcher, planetscale = paged_bot
    if not planetscale.watched_once:  # billing-db's policy seen once: a change to it after is drift
        watcher.run_once()
        planetscale.watched_once = True
    planetscale.answers = answers
    planetscale.well_retention += 1  # a change in the dashboard each example: drift on billing-db
    outcomes = []
    for _ in range(2):  # met twice, told once
        _, cursor = bot.slack.events_since(0)
        planetscale.lists_read = planetscale.pages_read = 0
        result = watcher.run_once()  # raises nothing
        assert result is not None and not result.lost_lease
        assert planetscale.pages_read <= planetscale.lists_read * MAX_PAGES  # pages that never end are cut off
        outcomes.append(posted_since(bot, cursor))
        assert bot.deps.store.unposted_notices() == []
    event(f"skipped: {min(len(watcher.skipped), 2)}")
    assert [t for t in outcomes[0] if t.startswith(":eyes:") and WELL in t], outcomes  # the other database
    assert not [text for text in outcomes[1] if text.startswith(SKIPPED_HEADLINE)], outcomes
    reply = bot.command("status acme/app-db")
    said = reply.all_text()
    assert said.strip() and "Something went wrong" not in said, said
