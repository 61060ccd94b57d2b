"""The durable inbox (issue 23, item 2): a request's work is written before its ack, so that when its instance
stops before doing it, another instance takes it over when its lease lapses and redoes it, once; a database that
stalls at the ack delays nothing but the inbox. On SQLite and PostgreSQL; the inbox's time is the database's
clock, moved on by the tests (`Inbox.ahead`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any, ParamSpec, TypeVar

import pytest
import sqlalchemy as sa
from conftest import ALICE, CHANNEL, OPEN_RULES, SIGNING_SECRET, AuditReader, Bot, acked_while
from slack_bolt import BoltRequest

from bot.adapters.schema import deliveries
from bot.adapters.store import Store
from bot.adapters.store.connection import database_url
from bot.adapters.store.inbox import LEASE_SECONDS, Inbox, InboxStalled
from bot.domain.access_file import StaticRules
from bot.domain.access_rules import parse_rules
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackState
from bot.emulators.slack_requests import signed_headers
from bot.runtime.app import build_app, build_dependencies, redo
from bot.runtime.executor import TrackedExecutor
from bot.runtime.running import start_sweeper
from bot.runtime.sweeper import INBOX_GIVE_UP, InboxKeeper

P = ParamSpec("P")
T = TypeVar("T")
PROD = "bp01prod12h"
ASKING = OPEN_RULES.replace('approvers = ["@dba-leads"]', 'approvers = ["@dba-leads"]\napprovals = 1')


class Killed(TrackedExecutor):
    """An instance killed right after its acks, once their inbox rows are written (a loaded database may take
    longer than the ack's own wait): the work they hand over never runs."""

    def __init__(self, max_workers: int = 16):
        super().__init__(max_workers)
        self.inbox_wait = 30.0

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return Future()


class KilledBeforeItsForms(TrackedExecutor):
    """An instance killed right after its acks, before the forms' work they hand over (its own threads) runs."""

    def _submit(self, to: Callable[..., Future[T]], fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return Future()


class Instances:
    """Instances of the bot on one database, each with its own store, executor and wall clock."""

    def __init__(self, url: str, settings: Any, slack: SlackState, planetscale_client: Any, slack_url: str):
        self.url, self.settings, self.slack, self.client, self.slack_url = url, settings, slack, planetscale_client, \
            slack_url
        self.made: list[Bot] = []
        self.claim_wait: float | None = None  # how long each instance's change path waits for a held lease

    def claims_wait_for_nothing(self) -> None:
        """A change meeting a lease another change holds is queued at once, on every instance, made or to come."""
        self.claim_wait = 0.0
        for bot in self.made:
            bot.deps.changes.claim_wait = 0.0

    def start(self, executor: TrackedExecutor | None = None, rules: str = OPEN_RULES,
              wall: Callable[[], float] = time.time) -> Bot:
        """`wall`: the instance's wall clock (its host's)."""
        store = Store(self.url, wall=wall)
        store.migrate()
        executor = executor or TrackedExecutor()
        deps = build_dependencies(self.settings, self.client, store, executor, StaticRules(parse_rules(rules)))
        if self.claim_wait is not None:
            deps.changes.claim_wait = self.claim_wait
        bot = Bot(build_app(self.settings, deps), deps, executor, self.slack, self.slack_url, AuditReader(store))
        self.made.append(bot)
        return bot

    def close(self) -> None:
        for bot in self.made:
            bot.executor.shutdown(wait=False, cancel_futures=True)
            bot.deps.close()
            bot.deps.store.close()


@pytest.fixture
def instances(store_url: str, settings: Any, slack: SlackState, planetscale_client: Any,
              slack_server: Any) -> Iterator[Instances]:
    made = Instances(store_url, settings, slack, planetscale_client, slack_server[1].url)
    yield made
    made.close()


def end_other_sessions(url: str) -> None:
    """Ends every other session on the database, as PostgreSQL's restart, a failover or an administrator does."""
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    engine.dispose()


def inbox_of(bot: Bot) -> Inbox:
    inbox = bot.executor.inbox
    assert isinstance(inbox, Inbox)
    return inbox


def keeper_of(bot: Bot, ahead: float) -> InboxKeeper:
    """The instance's sweeper's inbox step, the inbox's time (the database's clock) moved on by `ahead` seconds."""
    inbox = inbox_of(bot)
    inbox.ahead = ahead
    return InboxKeeper(inbox, partial(redo, bot.app))


def acked(bot: Bot, body: str) -> int:
    return bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))).status


def left_undone(bot: Bot) -> list[tuple[str, bool]]:
    with bot.deps.store.engine.connect() as conn:
        return [(h or "", bool(a)) for h, a in conn.execute(
            sa.select(deliveries.c.holder, deliveries.c.handed_again).where(deliveries.c.body.is_not(None)))]


def retention(planetscale: PlanetScaleState) -> int:
    return int(planetscale.policy("acme", "app-db", PROD)["retention_value"])


def test_a_command_acked_by_an_instance_killed_before_its_work_is_redone_by_another_once(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        caplog: pytest.LogCaptureFixture) -> None:
    killed, alive = instances.start(Killed()), instances.start()
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert planetscale.calls("PATCH") == [] and [h for h, _ in left_undone(alive)] == [inbox_of(killed).holder]
    keeper_of(alive, 1).step()  # its lease runs still: not taken
    assert planetscale.calls("PATCH") == []
    caplog.set_level(logging.WARNING)
    keeper = keeper_of(alive, LEASE_SECONDS + 1)
    keeper.step()
    assert alive.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert [e.kind for e in slack.events if "changed the backup policy" in e.text] == ["message"]
    assert "handed_again" in caplog.text
    assert left_undone(alive) == []  # done with the change it stored
    keeper.step()
    keeper_of(instances.start(), 60).step()
    assert len(planetscale.calls("PATCH")) == 1


def test_work_taken_over_is_never_handed_again_and_is_closed_after_half_an_hour(
        instances: Instances, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    first, second, third = instances.start(Killed()), instances.start(Killed()), instances.start()
    acked(first, first.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE))
    keeper_of(second, LEASE_SECONDS + 1).step()  # taken over, and that instance killed too
    assert left_undone(third) == [(inbox_of(second).holder, True)]
    keeper_of(third, 10 * LEASE_SECONDS).step()
    assert planetscale.calls("PATCH") == [] and left_undone(third) == [(inbox_of(second).holder, True)]
    caplog.set_level(logging.WARNING)
    keeper_of(third, INBOX_GIVE_UP + 1).step()
    assert left_undone(third) == [] and "closed undone" in caplog.text
    assert planetscale.calls("PATCH") == []


def test_work_nobody_redid_within_half_an_hour_is_told_to_its_person_recorded_and_never_sent(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState, settings: Any) -> None:
    """alice's change was acked by an instance that stopped before doing it, and no instance stepped within the
    inbox's 30 minutes: she is told where she asked that it was lost and to try again, once, and the trail says
    so; nothing goes to PlanetScale. The keeper is wired as serve wires it (bot/runtime/running.py)."""
    killed, alive, other = instances.start(Killed()), instances.start(), instances.start()
    body = killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    assert acked(killed, body) == 200
    for bot in (alive, other):
        keeper = start_sweeper(bot.deps, bot.app, settings, start=False).inbox
        assert keeper is not None
        inbox_of(bot).ahead = INBOX_GIVE_UP + 1
        keeper.step()
    assert alive.executor.wait_idle(timeout=30) and other.executor.wait_idle(timeout=30)
    assert left_undone(alive) == [] and planetscale.calls("PATCH") == [] and retention(planetscale) != 9
    told = [e for e in slack.events if "try again" in e.text]
    assert [(e.kind, e.user, e.channel) for e in told] == [("ephemeral", ALICE, CHANNEL)], slack.events
    assert "retention=9d" in told[0].text and "Nothing was sent to PlanetScale" in told[0].text
    [lost] = [e for e in alive.audit.all() if e.action == "lost"]
    assert lost.actor == ALICE and lost.channel == CHANNEL and "retention=9d" in (lost.detail or "")


@pytest.mark.parametrize(("answer", "named"), [
    ({"ok": False, "error": "user_not_in_channel"}, "user_not_in_channel"), ({"ok": False}, "no error named"),
    ([1], "unreadable_answer"), ({"ok": 1}, "unreadable_answer"),
])
def test_work_lost_whose_ephemeral_slack_refuses_is_told_at_its_response_url_and_the_refusal_logged(
        instances: Instances, slack: SlackState, settings: Any, caplog: pytest.LogCaptureFixture, answer: Any,
        named: str) -> None:
    """chat.postEphemeral's answer is read for nothing but its failure: refused (or of no shape Slack gives), the
    log names Slack's answer and alice is told at her command's response URL instead."""
    killed, alive = instances.start(Killed()), instances.start()
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    slack.add_fault(MethodFault("chat.postEphemeral", body=answer, times=None))
    keeper = start_sweeper(alive.deps, alive.app, settings, start=False).inbox
    assert keeper is not None
    inbox_of(alive).ahead = INBOX_GIVE_UP + 1
    caplog.set_level(logging.WARNING)
    keeper.step()
    assert alive.executor.wait_idle(timeout=30)
    told = [e for e in slack.events if "try again" in e.text]
    assert [(e.kind, e.response_type) for e in told] == [("response", "ephemeral")], slack.events
    assert (f"could not tell {ALICE} of their lost request in {CHANNEL}: Slack answered chat.postEphemeral with "
            f"{named}") in caplog.text
    [lost] = [e for e in alive.audit.all() if e.action == "lost"]
    assert "(not told)" not in (lost.detail or "")


def test_work_still_held_by_its_instance_after_half_an_hour_is_closed_without_telling_it_lost(
        instances: Instances, slack: SlackState, settings: Any) -> None:
    """Work its instance still renews at the inbox's 30 minutes is under way there (its own answer reaches its
    person): closed, and nobody is told it was lost."""
    holding, other = instances.start(Killed()), instances.start()
    assert acked(holding, holding.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    inbox_of(holding).ahead = INBOX_GIVE_UP + 1
    assert inbox_of(holding).renew() == 1
    keeper = start_sweeper(other.deps, other.app, settings, start=False).inbox
    assert keeper is not None
    inbox_of(other).ahead = INBOX_GIVE_UP + 1
    keeper.step()
    assert left_undone(other) == [] and not [e for e in slack.events if "try again" in e.text]
    assert not [e for e in other.audit.all() if e.action == "lost"]


def test_leases_renewed_by_their_instance_are_not_taken_over(
        instances: Instances, planetscale: PlanetScaleState) -> None:
    first, second = instances.start(Killed()), instances.start()
    acked(first, first.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE))
    for step in range(1, 5):
        # Each look of the other's comes after the lease the previous renewal (or the ack) gave, half a second
        # after this renewal's: the renewal alone keeps the work, however slow a loaded machine's steps (up to
        # LEASE_SECONDS - 0.5 s of them).
        keeper_of(first, LEASE_SECONDS * step).step()
        keeper_of(second, LEASE_SECONDS * step + 0.5).step()
    assert planetscale.calls("PATCH") == [] and [h for h, _ in left_undone(second)] == [inbox_of(first).holder]


def test_a_database_stalled_at_the_ack_delays_the_inbox_not_the_ack(
        instances: Instances, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot = instances.start()
    inbox = inbox_of(bot)
    stalled = threading.Event()
    write = inbox.write

    def stalled_write(takes: Sequence[tuple[str, str]], dones: Sequence[str]) -> set[str]:
        stalled.wait(timeout=60)
        return write(takes, dones)

    inbox.write = stalled_write  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING)
    try:
        assert acked_while(lambda: acked(bot, bot.command_body(f"update acme/app-db {PROD} retention=9d"))) == 200
        assert "did not write this request" in caplog.text and planetscale.calls("PATCH") == []
    finally:
        stalled.set()
    assert bot.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert left_undone(bot) == []


def test_the_row_is_done_in_the_transaction_that_stores_the_request(
        instances: Instances, planetscale: PlanetScaleState) -> None:
    bot = instances.start(rules=ASKING)
    inbox = inbox_of(bot)
    write = inbox.write
    called: list[str] = []

    def counted(takes: Sequence[tuple[str, str]], dones: Sequence[str]) -> set[str]:
        called.extend(dones)
        return write(takes, dones)

    inbox.write = counted  # type: ignore[method-assign]
    bot.command(f"update acme/app-db {PROD} retention=9d")
    assert len(bot.deps.store.requests(["pending"])) == 1
    assert called == [] and left_undone(bot) == []  # marked by the store's own write
    bot.command("help")
    assert len(called) <= 1 and left_undone(bot) == []  # work that stores no request: done as it ends


def test_two_instances_taking_over_at_once_redo_the_work_once(
        instances: Instances, planetscale: PlanetScaleState) -> None:
    killed, first, second = instances.start(Killed()), instances.start(), instances.start()
    acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE))
    keepers = [keeper_of(first, LEASE_SECONDS + 1), keeper_of(second, LEASE_SECONDS + 1)]
    together = threading.Barrier(2)

    def step(keeper: InboxKeeper) -> None:
        together.wait()
        keeper.step()

    threads = [threading.Thread(target=step, args=(k,)) for k in keepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert first.executor.wait_idle(timeout=60) and second.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1



@pytest.mark.parametrize("command", [f"edit acme/app-db {PROD}", "edit acme/*", "create acme/app-db"],
                         ids=["edit", "bulk-edit", "create"])
@pytest.mark.parametrize("refused", [False, True], ids=["held", "refused"])
def test_a_form_opens_inside_its_triggers_life_while_the_inbox_write_is_held(
        instances: Instances, slack: SlackState, command: str, refused: bool) -> None:
    """`refused`: the database refuses the write at once (down), and answers again only once the test says."""
    bot = instances.start()
    held = threading.Event()
    hold_writes(inbox_of(bot), held, refused)
    try:
        assert acked_while(lambda: acked(bot, bot.command_body(command))) == 200
        opened = acked_while(lambda: _eventually(lambda: bool(slack.method_calls("views.open"))), bound=15,
                             what="views.open")
        assert opened, "views.open waited for the inbox's write, past the trigger's 3 s"
    finally:
        held.set()
    assert bot.executor.wait_idle(timeout=60)
    assert [e.view for e in slack.events if e.view is not None], "the form was not opened"
    if not refused:
        assert _eventually(lambda: _written_and_done(bot)), "the work's row was left undone once written"
    assert left_undone(bot) == []


def test_a_form_request_delivered_again_while_its_inbox_write_is_held_opens_the_form_once(
        instances: Instances, slack: SlackState) -> None:
    """A replay (or a retry) of a form's request while the first delivery's row is still being written: the form
    was opened by the first, and the second used the spent trigger_id, so the person was told Slack did not open
    the form (`invalid_trigger_id`), to run the command again, beside the form that did open."""
    bot = instances.start()
    held = threading.Event()
    hold_writes(inbox_of(bot), held)
    body = bot.command_body(f"edit acme/app-db {PROD}")
    try:
        assert acked_while(lambda: acked(bot, body)) == 200
        assert acked_while(lambda: acked(bot, body)) == 200
    finally:
        held.set()
    assert bot.executor.wait_idle(timeout=60)
    assert len(slack.method_calls("views.open")) == 1, "the form's request was acted on twice"
    told = [e.text for e in slack.events if "did not open the form" in e.text]
    assert not told, told


def test_a_form_whose_row_lands_after_its_ack_on_an_instance_killed_before_it_opened_is_redone(
        instances: Instances, slack: SlackState) -> None:
    """Its row was done as it landed, before the work ran: the form never opened, nobody redid it, and the person
    was never told."""
    killed, alive = instances.start(KilledBeforeItsForms()), instances.start()
    held = threading.Event()
    hold_writes(inbox_of(killed), held)
    try:
        assert acked(killed, killed.command_body(f"edit acme/app-db {PROD}")) == 200
    finally:
        held.set()
    assert _eventually(lambda: _rows(killed) != []), "the form's row never landed"
    time.sleep(0.5)  # the writer's next batch (a done, on main) lands meanwhile
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=60)
    told = [e.text for e in slack.events if "did not open the form" in e.text]
    assert slack.method_calls("views.open") or told, "the form's work was lost with its instance, untold"


def _rows(bot: Bot) -> list[str | None]:
    with bot.deps.store.engine.connect() as conn:
        return list(conn.execute(sa.select(deliveries.c.body)).scalars())


def hold_writes(inbox: Inbox, held: threading.Event, refused: bool = False) -> None:
    """The inbox's writes held until `held` is set; `refused`: the first writes of rows refused at once."""
    write, take_again = inbox.write, inbox.take_again

    def held_write(takes: Sequence[tuple[str, str]], dones: Sequence[str]) -> set[str]:
        if refused and takes:
            raise InboxStalled("the database could not be reached for the inbox's write (OperationalError)")
        held.wait(timeout=60)
        return write(takes, dones)

    def held_take_again(key: str, body: str) -> bool:
        held.wait(timeout=60)
        return take_again(key, body)

    inbox.write = held_write  # type: ignore[method-assign]
    inbox.take_again = held_take_again  # type: ignore[method-assign]


def _written_and_done(bot: Bot) -> bool:
    bodies = _rows(bot)
    return bool(bodies) and all(body is None for body in bodies)


def _eventually(check: Callable[[], bool]) -> bool:
    for _ in range(200):
        if check():
            return True
        time.sleep(0.05)
    return False


