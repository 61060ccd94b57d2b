"""The access file as the running bot reads it: out-of-range values are refused with their line, and a file
being rewritten in place is never taken half-written."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from approval_helpers import approvals_bot
from conftest import ALICE, Bot

from bot.domain.access_file import AccessFile
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

RULES = """[approvals]
expire_after = "{expire}"

[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["U0ALICE001"]
approvers = ["U0CAROL001"]
approvals = {approvals}
"""
PROD = "bp01prod12h"
__all__ = ["approvals_bot"]  # a fixture, used by name


def rewrite(path: Path, text: str, ago: float) -> None:
    """Write the file and date it `ago` seconds back: each version its own time, long enough ago to be whole."""
    path.write_text(text)
    os.utime(path, (time.time() - ago, time.time() - ago))


@pytest.fixture
def from_file(bot: Bot, tmp_path: Path) -> tuple[Bot, Path]:
    path = tmp_path / "access.toml"
    rewrite(path, RULES.format(expire="24h", approvals=1), ago=60)
    bot.deps.access.source = AccessFile(str(path))
    return bot, path


@pytest.mark.parametrize("expire", ["0m", "0h", "99999999w", "91d"])
def test_an_expiry_out_of_range_is_refused_with_its_line_and_the_last_good_rules_stay(
        from_file: tuple[Bot, Path], planetscale: PlanetScaleState, expire: str) -> None:
    bot, path = from_file
    rewrite(path, RULES.format(expire=expire, approvals=1), ago=30)
    reply = bot.command(f"update acme/app-db {PROD} retention=1d frequency=12h", user=ALICE)
    assert "needs 1 approval" in reply.all_text()
    error = bot.deps.access.source.last_error or ""
    assert "line 2" in error and f"`{expire}` is out of range" in error and "1 minute to 90 days" in error
    [request] = bot.deps.store.requests([RequestState.PENDING])
    assert request.expires_at - request.created_at == 24 * 3600
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("expire", ["1m", "90d", "12w"])
def test_the_bounds_of_the_expiry_are_accepted(from_file: tuple[Bot, Path], expire: str) -> None:
    bot, path = from_file
    rewrite(path, RULES.format(expire=expire, approvals=1), ago=30)
    bot.command("list acme/app-db", user=ALICE)
    assert bot.deps.access.source.last_error is None


def test_a_file_being_rewritten_in_place_is_never_taken_half_written(
        from_file: tuple[Bot, Path], planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot, path = from_file
    source = bot.deps.access.source
    assert isinstance(source, AccessFile)
    began = time.time()
    source.clock = lambda: began  # the torn versions stay younger than SETTLE_SECONDS however slow the machine
    whole = RULES.format(expire="24h", approvals=2)
    # Torn just before its `approvals` line, the new version still parses: a rule asking no approval at all.
    path.write_text(whole[:whole.index("approvals = 2")])
    first = bot.command(f"update acme/app-db {PROD} retention=1d frequency=12h", user=ALICE)
    assert "needs 1 approval" in first.all_text()  # the last whole version's rule
    # Torn mid-key: it does not parse, and while it is being written that is no error to report.
    path.write_text(whole[:whole.index("approvers") + 4])
    second = bot.command(f"update acme/app-db {PROD} retention=4d frequency=12h", user=ALICE)
    assert "needs 1 approval" in second.all_text()
    assert bot.deps.access.source.last_error is None
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert planetscale.calls("PATCH") == []
    # Written whole and left alone: taken.
    rewrite(path, whole, ago=30)
    third = bot.command(f"update acme/app-db {PROD} retention=5d frequency=12h", user=ALICE)
    assert "needs 2 approval" in third.all_text()


def test_a_version_dated_in_the_future_is_taken_once_it_has_stayed_the_same(
        from_file: tuple[Bot, Path], planetscale: PlanetScaleState) -> None:
    bot, path = from_file
    source = bot.deps.access.source
    assert isinstance(source, AccessFile)
    now = [time.time()]
    source.clock = lambda: now[0]
    path.write_text(RULES.format(expire="24h", approvals=2))
    os.utime(path, (now[0] + 3600, now[0] + 3600))  # another host's clock, an hour ahead
    assert source.rules.rules[0].approvals == 1  # just changed, as far as this bot can tell
    now[0] += 5
    assert source.rules.rules[0].approvals == 2  # the same for a while since: whole


@pytest.mark.parametrize("moment", ["99999999999999w before expiry", "91d before expiry"])
def test_a_reminder_further_than_90_days_before_expiry_is_refused_with_its_line_and_the_last_good_rules_stay(
        from_file: tuple[Bot, Path], planetscale: PlanetScaleState, moment: str) -> None:
    """A reminder earlier than any expiry can be: its time would fall before year 1 and break every drawing of it."""
    bot, path = from_file
    text = RULES.format(expire="24h", approvals=1).replace('expire_after = "24h"',
                                                            f'expire_after = "24h"\nremind = ["{moment}"]')
    rewrite(path, text, ago=30)
    reply = bot.command(f"update acme/app-db {PROD} retention=1d frequency=12h", user=ALICE)
    assert "needs 1 approval" in reply.all_text() and "Something went wrong" not in reply.all_text()
    error = bot.deps.access.source.last_error or ""
    assert "line 3" in error and "remind" in error and "90 days" in error, error
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize(("content", "reason"), [
    ("# r\u00e9gles\n".encode("latin-1"), "line 1: byte 0xE9 is not UTF-8"),
    (b"# fine\nx = " + b"[" * 3000 + b"]" * 3000 + b"\n", "line 2: arrays or tables nested too deeply"),
])
def test_a_file_not_utf8_or_nested_too_deep_is_said_with_its_line_and_the_next_command_keeps_the_last_good_rules(
        approvals_bot: Bot, planetscale: PlanetScaleState, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        content: bytes, reason: str) -> None:
    """Issue 20 item 6 through Bolt's pipeline: a reload of a file that is not UTF-8 or is nested thousands deep
    gives the next command no "Something went wrong"; it is answered under the last good rules, and the line and
    the reason are in the log and on /healthz. At start the same file is refused with its line and reason."""
    from bot.runtime.app import health_report, load_access_rules
    from bot.runtime.settings import SettingsError

    bot, path = approvals_bot, tmp_path / "access.toml"
    rewrite(path, RULES.format(expire="24h", approvals=1), ago=60)
    bot.deps.access.source = AccessFile(str(path))
    path.write_bytes(content + RULES.format(expire="24h", approvals=2).encode())
    os.utime(path, (time.time() - 30, time.time() - 30))  # a new version, settled
    reply = bot.command(f"update acme/app-db {PROD} retention=1d frequency=12h", user=ALICE)
    assert "Something went wrong" not in reply.all_text()
    assert "needs 1 approval" in reply.all_text(), reply.all_text()  # the last good rules ask one, the new two
    assert reason in caplog.text
    assert reason in health_report(bot.deps).get("access_rules", "")
    assert planetscale.calls("PATCH") == []
    with pytest.raises(SettingsError, match=reason):
        load_access_rules(str(path))
