"""Two `backup-bot serve` processes sharing one PostgreSQL behave as one bot: approvals clicked on both apply a
change once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from processes import access_rules, approve, command, post, serve_env, start, wait_until

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.serving import free_port
from bot.emulators.slack import SlackState, SlackUser

LEADS = [("U0CAROL001", "carol"), ("U0LEAD0002", "lead2"), ("U0LEAD0003", "lead3"), ("U0LEAD0004", "lead4")]


def test_two_instances_on_one_postgresql_apply_an_approved_change_once(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    postgres_url: str
) -> None:
    for user, name in LEADS[1:]:
        slack.add_user(SlackUser(user, name, name, f"{name}@acme.example"))
    slack.add_usergroup("S0DBALEAD1", "dba-leads", [u for u, _ in LEADS])
    (tmp_path / "access.toml").write_text(access_rules(2))
    env = serve_env(slack_server, planetscale_server, postgres_url)
    ports = [free_port(), free_port()]
    servers = [start(env, tmp_path, port, f"serve-{port}.log") for port in ports]
    slack_url = slack_server[1].url
    try:
        post(ports[0], command('update acme/app-db "Production daily" retention=7d', slack_url))
        wait_until(lambda: any(e.kind == "message" for e in slack.events), "the request was not posted")
        [message] = [e for e in slack.events if e.kind == "message"]
        start_together = threading.Barrier(len(LEADS))

        def click(index: int) -> None:
            user, name = LEADS[index]
            body = approve(message, user, name, slack_url)
            start_together.wait()
            post(ports[index % 2], body)  # alternate instances

        threads = [threading.Thread(target=click, args=(i,)) for i in range(len(LEADS))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_until(lambda: any(e.kind == "update" and "changed the backup policy" in str(e.blocks)
                               for e in slack.events), "the approved change was not applied")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 7, "retention_unit": "day"}]


def test_two_requests_on_one_policy_approved_on_two_instances_apply_one(
    tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any, planetscale_server: Any,
    postgres_url: str
) -> None:
    """The lease on a policy holds across processes: the second change reads the first one's result."""
    slack.add_user(SlackUser("U0LEAD0002", "lead2", "lead2", "lead2@acme.example"))
    slack.add_usergroup("S0DBALEAD1", "dba-leads", ["U0CAROL001", "U0LEAD0002"])
    (tmp_path / "access.toml").write_text(access_rules(1))
    env = serve_env(slack_server, planetscale_server, postgres_url)
    ports = [free_port(), free_port()]
    servers = [start(env, tmp_path, port, f"serve-{port}.log") for port in ports]
    slack_url = slack_server[1].url
    try:
        for days in (1, 5):
            post(ports[0], command(f'update acme/app-db "Production daily" retention={days}d', slack_url))
            wait_until(lambda n=days: sum(e.kind == "message" for e in slack.events) == (1 if n == 1 else 2),
                       "the request was not posted")
        messages = [e for e in slack.events if e.kind == "message"]
        planetscale.add_fault(Fault(delay=0.6, method="PATCH", times=1))  # the first PATCH is slow
        together = threading.Barrier(2)

        def click(index: int) -> None:
            user, name = LEADS[index]
            body = approve(messages[index], user, name, slack_url)
            together.wait()
            post(ports[index], body)

        threads = [threading.Thread(target=click, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_until(lambda: sum(e.kind == "update" and ("changed the backup policy" in str(e.blocks)
                                                       or "Not applied" in str(e.blocks)) for e in slack.events) >= 2,
                   "both requests did not end")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    assert len(planetscale.calls("PATCH")) == 1
    assert any("retention_value is now" in str(e.blocks) for e in slack.events if e.kind == "update")
