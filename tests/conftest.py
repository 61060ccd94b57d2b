"""Fixtures: both emulators as real HTTP servers on loopback, and the app driven by signed Slack requests."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from planetscale_spec import JudgedBySpec, SpecJudge
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import Clock

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.store import Store, database_url
from bot.domain.access_file import StaticRules
from bot.domain.access_rules import parse_rules
from bot.domain.audit import AuditEvent
from bot.emulators.block_kit import ack_problems
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_demo import seed_demo
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import HELD_AT_MOST, MethodFault, SlackEmulator, SlackEvent, SlackState, demo_slack_state
from bot.emulators.slack_requests import (
    block_actions_body,
    signed_headers,
    slash_command_body,
    state_values,
    view_submission_body,
)
from bot.runtime.app import build_app, build_dependencies, planetscale_transport
from bot.runtime.executor import TrackedExecutor
from bot.runtime.settings import Settings
from handlers.dependencies import Dependencies

# CI replays the same fuzzing examples each run, so a submission is judged on its own change; developers'
# runs explore new ones (and remember failures in .hypothesis/). FUZZ_EXAMPLES=20000 fuzzes deeper, and
# FUZZ_STEPS=40 runs the state machines longer. No deadline: the tests judge behaviour, and an example slowed by
# a busy machine (several test processes on two cores) is not a defect.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
hypothesis_settings.register_profile("developer", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "developer")

T = TypeVar("T")
OPEN_RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["U0ALICE001", "@dba-team"]
approvers = ["@dba-leads"]
"""
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-0000-bot-token"
CHANNEL = "C0DBAOPS01"
ALICE = "U0ALICE001"
# The read timeout of a call whose answer Slack holds until the bot has stopped waiting (`answer_lost`): that call
# alone times out; every other call keeps the client's usual timeouts, so a loaded machine slowing an ordinary
# answer never makes it lost too.
LOST_READ = 0.5


def slack_arguments(request: httpx.Request) -> dict[str, Any]:
    """A Web API call's arguments as the emulator reads them: the query's, and the form's or the JSON body's."""
    body = request.read()
    if request.headers.get("content-type", "").startswith("application/json"):
        sent = json.loads(body) if body else {}
        return {**dict(request.url.params), **(sent if isinstance(sent, dict) else {})}
    return {**dict(request.url.params), **dict(parse_qsl(body.decode("utf-8", "replace")))}


@contextlib.contextmanager
def answer_lost(bot: Bot, method: str, **fault: Any) -> Iterator[MethodFault]:
    """Meanwhile Slack does what `method` asks (the calls `fault`'s filters match) but answers only once the bot
    has stopped waiting, however slow the machine: that call alone is given LOST_READ to answer, and Slack holds
    it until this block ends. On leaving, Slack has carried out each call it held (`carried_out`)."""
    pool = bot.app.client.http.client  # type: ignore[attr-defined]
    hooks = pool.event_hooks
    answered = threading.Event()
    lost = MethodFault(method, until=answered, **fault)

    def cut(request: httpx.Request) -> None:
        # Before the emulator counts it: a call the fault will strike (past its `skip`, within its `times`).
        if lost.skip == 0 and lost.matches(request.url.path.rsplit("/", 1)[-1], slack_arguments(request)):
            request.extensions["timeout"] = {**request.extensions.get("timeout", {}), "read": LOST_READ}

    pool.event_hooks = {**hooks, "request": [*hooks.get("request", []), cut]}
    bot.slack.add_fault(lost)
    try:
        yield lost
    finally:
        pool.event_hooks = hooks
        answered.set()
    if lost.times != fault.get("times", 1):  # it struck: what it held is carried out within this test
        assert lost.carried_out.wait(HELD_AT_MOST), f"Slack never carried out the {method} it held"


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """A test that configures logging as the bot does at start (`logs.configure`, the CLI's commands run in this
    process) leaves the root logger as it found it: its handler writes to that test's captured output, and kept,
    it would gather every later test's lines in memory (at the level that test set, DEBUG for some)."""
    root, quiet = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, quiet_level = root.handlers[:], root.level, quiet.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    quiet.setLevel(quiet_level)


@pytest.fixture(scope="session")
def planetscale_spec() -> SpecJudge:
    """PlanetScale's published spec, judging every answer the emulator gives in the run."""
    return SpecJudge()


@pytest.fixture(scope="session")
def planetscale_server(planetscale_spec: SpecJudge) -> Iterator[tuple[PlanetScaleEmulator, BackgroundServer]]:
    emulator = PlanetScaleEmulator()
    with BackgroundServer(JudgedBySpec(emulator, planetscale_spec)) as server:
        yield emulator, server


@pytest.fixture(autouse=True)
def planetscale_answers_by_its_spec(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that talks to the PlanetScale emulator fails if any answer it got broke PlanetScale's spec."""
    if "planetscale_server" not in request.fixturenames:
        yield
        return
    judge: SpecJudge = request.getfixturevalue("planetscale_spec")
    judge.take()
    yield
    violations = judge.take()
    if violations:
        pytest.fail("The PlanetScale emulator answered against PlanetScale's spec "
                    "(tests/planetscale-openapi.yaml):\n" + "\n".join(violations), pytrace=False)


@pytest.fixture(autouse=True)
def emulators_start_fresh(request: pytest.FixtureRequest) -> None:
    """The emulators' servers last the session, so a test naming only the server would meet the state the last
    test on its worker left (a Slack answering auth.test with a string): each starts from the demo's."""
    if "slack_server" in request.fixturenames:
        request.getfixturevalue("slack")
    if "planetscale_server" in request.fixturenames:
        request.getfixturevalue("planetscale")


@pytest.fixture(scope="session")
def slack_server() -> Iterator[tuple[SlackEmulator, BackgroundServer]]:
    emulator = SlackEmulator(demo_slack_state(BOT_TOKEN))
    with BackgroundServer(emulator) as server:
        yield emulator, server


@pytest.fixture
def planetscale(planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer]) -> PlanetScaleState:
    """A freshly seeded PlanetScale for each test."""
    emulator, _ = planetscale_server
    emulator.state = seed_demo(PlanetScaleState())
    return emulator.state


@pytest.fixture
def slack(slack_server: tuple[SlackEmulator, BackgroundServer]) -> SlackState:
    emulator, _ = slack_server
    emulator.state = demo_slack_state(BOT_TOKEN)
    # A trigger_id's 3 s pass only when a test says so: a loaded machine's slow command expires none.
    emulator.state.trigger_clock = lambda: 0.0
    return emulator.state


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff delays the PlanetScale client asked for (recorded instead of slept)."""
    return []


@pytest.fixture
def planetscale_client(planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer],
                       planetscale: PlanetScaleState, sleeps: list[float]) -> Iterator[PlanetScaleClient]:
    yield from planetscale_client_over(planetscale_server[1], sleeps, planetscale_transport())


def planetscale_client_over(server: BackgroundServer, sleeps: list[float],
                            transport: httpx.BaseTransport) -> Iterator[PlanetScaleClient]:
    """The demo token's PlanetScale client, its requests through `transport` (a test's network), closed after."""
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, server.url + "/v1", retry=RetryPolicy(),
                               sleep=sleeps.append, transport=transport)
    yield client
    client.close()


class ToTheEmulator(httpx.BaseTransport):
    """The way to the PlanetScale emulator, for a test's network to fail in its own ways (`unreachable`)."""

    def __init__(self) -> None:
        self.inner = planetscale_transport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def unreachable(how: str, request: httpx.Request) -> NoReturn:
    """PlanetScale not reached: the connection refused (`refused`), or its answer timing out (anything else)."""
    if how == "refused":
        raise httpx.ConnectError("connection refused", request=request)
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.fixture
def settings(slack_server: tuple[SlackEmulator, BackgroundServer],
             planetscale_server: tuple[PlanetScaleEmulator, BackgroundServer]) -> Settings:
    return Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                    slack_api_url=slack_server[1].url + "/api/", planetscale_token_id=DEMO_TOKEN_ID,
                    planetscale_token=DEMO_TOKEN, planetscale_api_url=planetscale_server[1].url + "/v1")


@dataclass
class Reply:
    """What one request to the app produced: the HTTP answer and what reached Slack afterwards."""

    response: BoltResponse
    events: list[SlackEvent] = field(default_factory=list)

    @property
    def ack(self) -> dict[str, Any]:
        if not self.response.body:
            return {}
        if "json" in (self.response.headers.get("content-type") or [""])[0]:
            return dict(json.loads(self.response.body))
        return {"text": self.response.body}

    @property
    def ack_text(self) -> str:
        return str(self.ack.get("text", ""))

    def of_kind(self, *kinds: str) -> list[SlackEvent]:
        return [e for e in self.events if e.kind in kinds]

    @property
    def private(self) -> list[SlackEvent]:
        """Answers only the caller sees (ephemeral responses)."""
        return [e for e in self.events if e.kind == "ephemeral" or
                (e.kind == "response" and e.response_type == "ephemeral")]

    @property
    def public(self) -> list[SlackEvent]:
        return [e for e in self.events if e.kind == "message" or
                (e.kind == "response" and e.response_type == "in_channel")]

    def all_text(self) -> str:
        parts = [self.ack_text, json.dumps(self.ack.get("blocks", []), ensure_ascii=False)]
        for e in self.events:
            parts += [e.text, json.dumps(e.blocks, ensure_ascii=False)]
        return "\n".join(parts)


class AuditReader:
    def __init__(self, store: Store):
        self.store = store

    def all(self) -> list[AuditEvent]:
        return list(self.store.all_events())


@dataclass
class Bot:
    app: App
    deps: Dependencies
    executor: TrackedExecutor
    slack: SlackState
    slack_url: str
    audit: AuditReader

    def send(self, body: str, headers: dict[str, str] | None = None) -> Reply:
        """One request as Slack sends it; fails the test if Slack would refuse anything the bot answered."""
        _, cursor = self.slack.events_since(0)
        refused_before = len(self.slack.refusals)
        response = self.app.dispatch(BoltRequest(body=body, headers=headers or signed_headers(SIGNING_SECRET, body)))
        assert self.executor.wait_idle(timeout=60), "background work did not finish"
        events, _ = self.slack.events_since(cursor)
        reply = Reply(response, events)
        refused = self.slack.refusals[refused_before:]
        assert not refused, f"Slack refused what the bot sent: {refused}"
        problems = ack_problems(reply.ack)
        assert not problems, f"Slack would refuse the ack: {problems}"
        return reply

    def use_rules(self, text: str) -> None:
        self.deps.access.source = StaticRules(parse_rules(text))

    def command(self, text: str, user: str = ALICE, channel: str = CHANNEL) -> Reply:
        return self.send(self.command_body(text, user, channel))

    def click(self, action_id: str, value: str, user: str = ALICE, channel: str = CHANNEL,
              message: SlackEvent | None = None) -> Reply:
        return self.send(self.click_body(action_id, value, user, channel, message))

    def click_body(self, action_id: str, value: str, user: str = ALICE, channel: str = CHANNEL,
                   message: SlackEvent | None = None) -> str:
        member = self.slack.users[user]
        shown = {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks} \
            if message else None
        return block_actions_body(
            user_id=user, user_name=member.name, channel_id=channel, response_url=f"{self.slack_url}/response/2",
            trigger_id=self.slack.new_trigger_id(), message=shown,
            action={"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                    "text": {"type": "plain_text", "text": action_id}})

    def submit(self, view: dict[str, Any], changes: dict[str, Any] | None = None, user: str = ALICE) -> Reply:
        member = self.slack.users[user]
        return self.send(view_submission_body(user_id=user, user_name=member.name, view=view,
                                              values=state_values(view, changes)))

    def current_view(self) -> dict[str, Any]:
        """The latest modal opened, pushed or updated (an App Home published meanwhile is not one)."""
        views = [e.view for e in self.slack.events if e.view is not None and e.view.get("type") != "home"]
        assert views, "no view was opened"
        return dict(views[-1])

    def command_body(self, text: str, user: str = ALICE, channel: str = CHANNEL) -> str:
        member = self.slack.users[user]
        return slash_command_body(text, user_id=user, user_name=member.name, channel_id=channel,
                                  channel_name=self.slack.channels.get(channel, "private"),
                                  response_url=f"{self.slack_url}/response/1",
                                  trigger_id=self.slack.new_trigger_id())


POSTGRES_REQUIRED = os.environ.get("BACKUP_BOT_REQUIRE_POSTGRES") == "1"


def worker_database(url: str | None, worker: str | None) -> str | None:
    """The database this test process empties: the given one, or under pytest-xdist a database of the worker's own
    beside it (`test_gw0` beside `test`), created when missing, so workers never empty each other's."""
    if not url or not worker:
        return url
    given = sa.engine.make_url(database_url(url))
    own = f"{given.database}_{worker}"
    engine = sa.create_engine(given, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": own})
            if found.first() is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{own}"')
    except sa.exc.OperationalError:
        return url  # unreachable: fresh_postgres says so, or fails where PostgreSQL is required
    finally:
        engine.dispose()
    return urlunsplit(urlsplit(url)._replace(path=f"/{own}"))


POSTGRES_URL = worker_database(os.environ.get("BACKUP_BOT_TEST_POSTGRES_URL"), os.environ.get("PYTEST_XDIST_WORKER"))


def acked_while(answer: Callable[[], T], bound: float = 10.0, what: str = "the ack") -> T:
    """`answer()` (an ack) while a test holds an outside service's answer (a Fault's `until`, a row's lock): fails
    if it has not returned within `bound` seconds, that is, if it waits for the held service."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(answer).result(timeout=bound)
    except FutureTimeout:
        raise AssertionError(f"{what} waited for what the test holds") from None
    finally:
        pool.shutdown(wait=False)


def reset_postgres(url: str) -> None:
    """Empties the worker's database. A session an earlier test left in a transaction (its connection held open by
    a stalled proxy, or by a thread of it still running) would hold a lock the drop waits for without end: after a
    bounded wait, this database's other sessions are ended and the drop is tried again."""
    engine = sa.create_engine(database_url(url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on PostgreSQL (BACKUP_BOT_TEST_POSTGRES_URL; CI sets it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return fresh_postgres()


@pytest.fixture
def postgres_url() -> str:
    """An emptied PostgreSQL database, for what only PostgreSQL does (several instances)."""
    return fresh_postgres()


def fresh_postgres() -> str:
    if not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("BACKUP_BOT_REQUIRE_POSTGRES=1 but BACKUP_BOT_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL tests need BACKUP_BOT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)")
    try:
        reset_postgres(POSTGRES_URL)
    except sa.exc.OperationalError as exc:
        if POSTGRES_REQUIRED:
            raise
        pytest.skip(f"PostgreSQL at BACKUP_BOT_TEST_POSTGRES_URL is not reachable: {exc.orig}")
    return POSTGRES_URL


@pytest.fixture
def slack_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time by which Slack's signatures are checked (Bolt's check and the keeper's, slack_sdk's Clock), moved
    on by the test alone: a request signed a little under five minutes ago is acked however slow the machine,
    and is past them once the test moves it on."""
    now = [time.time()]
    monkeypatch.setattr(Clock, "now", lambda _: now[0])
    return now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """SQLite storage for the tests that are not about storage."""
    opened = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def bot(settings: Settings, slack: SlackState, planetscale_client: PlanetScaleClient, store: Store,
        slack_server: tuple[SlackEmulator, BackgroundServer]) -> Iterator[Bot]:
    yield from make_bot(settings, slack, planetscale_client, store, slack_server)


def bot_over(client: PlanetScaleClient, settings: Settings, slack: SlackState,
             slack_server: tuple[SlackEmulator, BackgroundServer], tmp_path: Path, url: str | None = None
             ) -> Iterator[Bot]:
    """A bot on its own store (SQLite unless `url` says) that reaches PlanetScale through the test's `client`; both
    closed after."""
    store = Store(url or f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    yield from make_bot(settings, slack, client, store, slack_server)
    store.close()
    client.close()


def make_bot(settings: Settings, slack: SlackState, planetscale_client: PlanetScaleClient, store: Store,
             slack_server: tuple[SlackEmulator, BackgroundServer]) -> Iterator[Bot]:
    executor = TrackedExecutor()
    deps = build_dependencies(settings, planetscale_client, store, executor, StaticRules(parse_rules(OPEN_RULES)))
    app = build_app(settings, deps)
    yield Bot(app, deps, executor, slack, slack_server[1].url, AuditReader(store))
    executor.shutdown(wait=True)
    deps.close()
