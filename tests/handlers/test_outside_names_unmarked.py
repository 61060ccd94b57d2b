"""The invisible marks the domain sets around a policy name in its own words (bot/domain/naming.py `outside`) stay
in what is stored, and reach no person and no file: through Bolt's pipeline on SQLite and PostgreSQL, a rename
refused at approval because another policy took the name meanwhile is told in the thread, the DM, history,
pending and the App Home, exported as JSON lines and CSV and logged (text and JSON lines), each holding the name as
written with no U+2066-U+2069 (nor their `\\u2068` escapes) and mentioning nobody. A typed name holding isolates
neither ends the marking early nor slips through the doors."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from typing import Any

import pytest
from approval_helpers import ALICE, CAROL, PROD, request_id
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from home_helpers import open_home
from test_outside_names import MADE, asked_with, shown, texts
from watch_helpers import watched as watched  # the fixture

from bot.domain.naming import outside
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.audit_commands import csv_lines, json_lines
from bot.runtime.logs import configure
from bot.runtime.watch import Watcher
from handlers.blocks import APPROVE

NAME = "Prod*_~<!channel> @U0EVIL0001"
MARKS = ("\u2066", "\u2067", "\u2068", "\u2069")
ESCAPED = ("\\u2066", "\\u2067", "\\u2068", "\\u2069")
TAKEN = f"app-db already has a policy named “{NAME}” (`bp03devday`): choose another name"


def raw(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def exported(bot: Bot, fmt: str) -> str:
    """`backup-bot audit export`'s text: the same functions over the same batches."""
    write = csv_lines if fmt == "csv" else json_lines
    return "".join(write(batch) for batch in bot.audit.store.event_batches(json_as_text=True))


@pytest.mark.parametrize("json_logs", [False, True])
def test_a_marked_name_is_stored_marked_and_shown_and_written_plainly_everywhere(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, capsys: pytest.CaptureFixture[str],
    json_logs: bool
) -> None:
    bot, _ = watched
    configure([], level="INFO", json_lines=json_logs)
    try:
        acks: list[Any] = [bot.command(f'update acme/app-db {PROD} name="{NAME}" reason="x"', user=ALICE).ack]
        message = asked_with(bot, APPROVE)
        planetscale.dashboard_change("acme", "app-db", "bp03devday", name=NAME)
        acks.append(bot.click(APPROVE, request_id(message), user=CAROL, message=message).ack)
        acks.append(bot.command("history acme/app-db").ack)
        acks.append(bot.command(f"history acme/app-db {PROD}").ack)
        acks.append(bot.command("pending", user=ALICE).ack)
        acks.append(open_home(bot, ALICE))
        logged = capsys.readouterr().err
    finally:
        logging.getLogger().handlers.clear()
    assert planetscale.policy("acme", "app-db", PROD)["name"] == "Production daily"

    # Stored with the marks: a new version reading the entry back still tells the name from the words.
    [failed] = [e for e in bot.audit.all() if e.action == "failed"]
    assert f"“{outside(NAME)}”" in str(failed.detail)

    # Slack: every text, plain or mrkdwn, in messages, DMs, views and acks.
    sent = [raw(dataclasses.asdict(e)) for e in bot.slack.events] + [raw(a) for a in acks]
    assert not [s for s in sent if any(m in s for m in MARKS)]
    mrkdwn = [t for e in bot.slack.events for t in texts(e.text) + texts([e.blocks, e.view], top=False)]
    mrkdwn += [t for a in acks for t in texts(a)]
    assert not [t for t in mrkdwn if MADE.search(t)]
    told = [shown(t) for t in mrkdwn if "already has a policy named" in t]
    assert len(told) >= 3 and all(TAKEN in t for t in told), told  # thread, DM, history (and more)

    # Files: the export in both forms.
    lines = exported(bot, "jsonl")
    assert not any(m in lines for m in MARKS + ESCAPED), lines
    [entry] = [e for e in map(json.loads, lines.splitlines()) if e["action"] == "failed"]
    assert TAKEN in entry["detail"]
    table = exported(bot, "csv")
    assert not any(m in table for m in MARKS + ESCAPED)
    [row] = [r for r in csv.reader(io.StringIO(table)) if "failed" in r]
    assert any(TAKEN in cell for cell in row), row

    # The log, in the form chosen.
    assert "already has a policy named" in logged
    assert not any(m in logged for m in MARKS + ESCAPED), [
        line for line in logged.splitlines() if any(m in line for m in MARKS + ESCAPED)]
    if json_logs:
        audited = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
        assert any(TAKEN in str((e.get("audit") or {}).get("detail")) for e in audited)


@pytest.mark.parametrize("typed", ["\u2069 @U0EVIL0001 <!channel> \u2068", "a\u2068<!here>\u2069b", "\u2066x\u2067"])
def test_a_typed_name_holding_isolates_neither_ends_the_marking_nor_passes_the_doors(
    approvals_bot: Bot, planetscale: PlanetScaleState, typed: str
) -> None:
    bot = approvals_bot
    before = planetscale.policy("acme", "app-db", "bp03devday")
    answer = bot.command(f'show acme/app-db "{typed}"')  # not found: the name typed is told back
    said = [t for e in answer.events for t in texts(e.text) + texts(e.blocks, top=False)] + texts(answer.ack)
    assert not [t for t in said if MADE.search(t)], said
    assert not [t for t in said if any(m in t for m in MARKS)], said
    assert any("No backup policy" in t for t in said), said
    for door in (f'update acme/app-db bp03devday name="{typed}" reason="x"',
                 f'create acme/app-db name="{typed}" target=development retention=7d frequency=1d at=02:00'):
        refused = bot.command(door)
        text = refused.all_text()
        assert "invisible" in text and "U+206" in text, text
    assert planetscale.policy("acme", "app-db", "bp03devday") == before
    assert not planetscale.calls("POST") and not planetscale.calls("PATCH")  # nothing sent
