"""The inbox writer keeps its PostgreSQL connection between acks (KEPT_SECONDS), past the pool's ping.
PostgreSQL restarted, failed over, or a pooler or firewall ending the session drops that kept connection: the next
ack's write must not fail on it and leave the request acting without its row (an instance stopping before its
work would lose it). And a write PostgreSQL committed before the connection dropped under it: the row is there,
the writer is told it failed, and the request, acting without its row, must still be done, not found seen
(Store.first_delivery) and held undone."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from conftest import ALICE
from slack_bolt import BoltRequest
from test_inbox import PROD, Instances, Killed, acked, end_other_sessions, inbox_of, instances, left_undone, retention

from bot.adapters.schema import deliveries
from bot.adapters.store import inbox as inbox_module
from bot.adapters.store.inbox import LEASE_SECONDS, _write
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.running import start_sweeper

__all__ = ["instances"]  # the fixture


def test_a_request_acked_after_postgresql_dropped_the_kept_connection_is_kept_in_the_inbox(
        instances: Instances, store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("a connection PostgreSQL ends; SQLite's is a file")
    killed = instances.start(Killed())
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    end_other_sessions(store_url)
    caplog.set_level(logging.WARNING)
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=10d", user=ALICE)) == 200
    killed.executor.wait_idle(timeout=5)
    assert "could not write this request to the inbox" not in caplog.text
    # Both requests are in the inbox for another instance to redo: the killed one never does them.
    assert [h for h, _ in left_undone(killed)] == [inbox_of(killed).holder] * 2


def test_a_write_tried_again_after_its_connection_dropped_finds_its_own_rows_and_no_replays(
        instances: Instances, store_url: str) -> None:
    """The dropped write may have committed before PostgreSQL ended the connection: its rows (this holder, this
    write's token) are still the caller's to do; a row another write made (a replay, another token) is not."""
    if not store_url.startswith("postgresql"):
        pytest.skip("a connection PostgreSQL ends; SQLite's is a file")
    inbox = inbox_of(instances.start(Killed()))
    assert inbox.write([("k1", "body")], []) == {"k1"}
    with inbox._engine().connect() as conn:
        [written] = conn.execute(sa.select(deliveries.c.written).where(deliveries.c.key == "k1")).scalars()
    row = {"key": "k1", "holder": inbox.holder, "written": written, "body": "body", "ahead": 0.0, "lease": 6.0}
    with inbox._engine().connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        assert _write(auto, [row], [], again=True) == {"k1"}  # its own write, committed unseen
        assert _write(auto, [row | {"written": "another"}], [], again=True) == set()  # a replay
        assert _write(auto, [row], []) == set()  # a first try never takes a row written already


def test_a_request_whose_inbox_write_committed_but_whose_answer_was_lost_is_done(
        instances: Instances, store_url: str, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL commits the row (autocommit), then the connection drops before its answer reaches the bot (a
    failover, a network cut): the write raises, and the request must still be done, once."""
    if not store_url.startswith("postgresql"):
        pytest.skip("a connection PostgreSQL ends; SQLite's is a file")
    dropped: list[str] = []

    def committed_then_dropped(conn: Any, rows: list[dict[str, Any]], dones: list[str], again: bool = False) -> Any:
        written = _write(conn, rows, dones, again)
        if rows and not dropped:
            dropped.append(rows[0]["key"])
            conn.invalidate()
            raise sa.exc.OperationalError("INSERT INTO deliveries", {}, Exception("server closed the connection "
                                          "unexpectedly"), connection_invalidated=True)
        return written

    monkeypatch.setattr(inbox_module, "_write", committed_then_dropped)
    bot = instances.start()
    assert acked(bot, bot.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert bot.executor.wait_idle(timeout=60) and dropped
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert left_undone(bot) == []


def test_a_socket_mode_request_left_by_a_stopped_instance_is_left_by_serve_for_a_socket_mode_instance(
        instances: Instances, planetscale: PlanetScaleState, settings: Any) -> None:
    """Instances of serve and of socket on one database (a move from Socket Mode to HTTP, or back): a request a
    Socket Mode instance acked before it stopped is unsigned, so serve's keeper refuses to redo it; it must then
    leave it to a Socket Mode instance's keeper, not take it over (once ever) and hold it undone."""
    killed, serving, socket = instances.start(Killed()), instances.start(), instances.start()
    payload = dict(parse_qsl(killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)))
    assert killed.app.dispatch(BoltRequest(mode="socket_mode", body=payload, headers={})).status == 200
    for bot, socket_mode in ((serving, False), (socket, True)):
        keeper = start_sweeper(bot.deps, bot.app, settings, start=False, socket_mode=socket_mode).inbox
        assert keeper is not None and settings.slack_signing_secret
        keeper.inbox.ahead = LEASE_SECONDS + 1
        keeper.step()
        assert bot.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert left_undone(socket) == []
