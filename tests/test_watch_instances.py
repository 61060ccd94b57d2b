"""The watch across `backup-bot serve` processes on one PostgreSQL: one watches, a change made outside the bot is
posted once, and after a restart only a new change is posted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from processes import access_rules, serve_env, start, wait_until

from bot.adapters.store import Store
from bot.domain.watch_state import DATABASE_READ
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState

AUDIT = "C0DBAOPS01"


def after_more_reads(planetscale: PlanetScaleState, reads: int = 12) -> None:
    """Until the watch has read PlanetScale `reads` more times: several passes, whatever the clock."""
    before = len(planetscale.calls("GET"))
    wait_until(lambda: len(planetscale.calls("GET")) >= before + reads, "the watch stopped reading")


def drift_posts(slack: SlackState) -> list[str]:
    return [e.text for e in slack.events if e.kind == "message" and "Changed outside the bot" in e.text]


def test_two_instances_post_a_change_outside_the_bot_once_and_a_restart_posts_only_what_changed(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    postgres_url: str
) -> None:
    (tmp_path / "access.toml").write_text(access_rules(1))  # databases = ["*"]: found by listing them
    env = {**serve_env(slack_server, planetscale_server, postgres_url), "BACKUP_BOT_WATCH_EVERY": "1s",
           "BACKUP_BOT_AUDIT_CHANNEL": AUDIT}
    store = Store(postgres_url)
    ports = [free_port(), free_port()]
    servers = [start(env, tmp_path, port, f"serve-{port}.log") for port in ports]
    try:
        wait_until(lambda: len(store.seen_policies("acme", "billing-db")[0].keys() - {DATABASE_READ}) == 2,
                   "no baseline was taken")
        planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=5)
        wait_until(lambda: drift_posts(slack), "the change was not posted")
        after_more_reads(planetscale)  # several passes, whichever instance holds the watch
        assert len(drift_posts(slack)) == 1
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    restarted = start(env, tmp_path, ports[0], "restarted.log")
    try:
        after_more_reads(planetscale)
        assert len(drift_posts(slack)) == 1  # nothing changed while it was down: nothing more
        planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=6)
        wait_until(lambda: len(drift_posts(slack)) == 2, "the new change was not posted")
        after_more_reads(planetscale)
        assert len(drift_posts(slack)) == 2
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
        store.close()
    assert [e.action for e in store.all_events() if e.action == "changed_outside"] == ["changed_outside"] * 2
