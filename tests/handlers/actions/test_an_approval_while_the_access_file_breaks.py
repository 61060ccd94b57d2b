"""An access file that breaks while a request waits for approval (deleted, replaced by a folder, unreadable,
truncated mid-token, invalid TOML), then an approver clicks Approve and the sweep runs: the last good rules stay
in force, the problem is in the log and in /healthz with the file's path (a folder was said as "Is a directory:
22", a file descriptor's number), the approver is never told "Something went wrong"; and a file replaced
atomically by rules that now refuse the change refuses it in words. Through Bolt's pipeline, SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from approval_helpers import CAROL, PROD, RULES, approvals_bot, ask, request_id, swept_later
from conftest import Bot

from bot.domain.access_file import AccessFile
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

AGO = 60.0  # each version dated well past the settling time: whole, as far as the bot can tell


def dated(path: Path) -> None:
    os.utime(path, (time.time() - AGO, time.time() - AGO), follow_symlinks=False)


def deleted(path: Path) -> None:
    path.unlink()


def a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    dated(path)


def unreadable(path: Path) -> None:
    # Tests may run as root, where chmod 000 stops no read: a link to itself fails every read as such a file does.
    path.unlink()
    path.symlink_to(path.name)


def truncated(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[:text.index("approvers") + 4])  # mid-key: it does not parse
    dated(path)


def invalid(path: Path) -> None:
    path.write_text(path.read_text().replace("[[rules]]", "[[rules]", 1))
    dated(path)


BREAKAGES: dict[str, Callable[[Path], None]] = {
    "deleted": deleted, "a folder": a_folder, "unreadable": unreadable, "truncated": truncated, "invalid": invalid}


def from_file(bot: Bot, tmp_path: Path) -> Path:
    path = tmp_path / "access.toml"
    path.write_text(RULES.format(approvals=1))
    dated(path)
    bot.deps.access.source = AccessFile(str(path))
    return path


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_an_approval_while_the_access_file_is_broken_keeps_the_last_good_rules_and_says_so(
        approvals_bot: Bot, planetscale: PlanetScaleState, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        breakage: str) -> None:
    path = from_file(approvals_bot, tmp_path)
    message = ask(approvals_bot)
    BREAKAGES[breakage](path)
    caplog.set_level(logging.ERROR)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    said = " ".join(e.text for e in reply.private)
    assert "Something went wrong" not in said, said
    # The last good rules (carol approves, one approval) decide it: applied.
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 1
    [request] = approvals_bot.deps.store.requests([RequestState.APPLIED])
    assert request.id == request_id(message)
    report = health_report(approvals_bot.deps)
    told = report.get("access_rules", "")
    assert "keeping the last good rules" in told and str(path) in told, report  # which file, whatever broke it
    assert any("access rules not reloaded" in r.getMessage() for r in caplog.records)
    swept_later(approvals_bot)
    answered = approvals_bot.command("pending", user=CAROL).all_text()
    assert "Something went wrong" not in answered, answered


def test_an_approval_after_the_file_is_replaced_by_rules_that_refuse_it_is_refused_in_words(
        approvals_bot: Bot, planetscale: PlanetScaleState, tmp_path: Path) -> None:
    path = from_file(approvals_bot, tmp_path)
    message = ask(approvals_bot)
    beside = tmp_path / "access.toml.new"
    beside.write_text(RULES.format(approvals=1).replace('approvers = ["@dba-leads"]', 'approvers = ["U0NOBODY01"]'))
    dated(beside)
    os.replace(beside, path)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    said = " ".join(e.text for e in reply.private)
    assert "Something went wrong" not in said, said
    assert said.strip(), "the approver is told nothing"
    assert planetscale.calls("PATCH") == []
    assert approvals_bot.deps.store.requests([RequestState.APPLIED]) == []
    assert "access_rules" not in health_report(approvals_bot.deps)
    swept_later(approvals_bot)
    assert planetscale.calls("PATCH") == []
