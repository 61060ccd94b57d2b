"""The watch on the approvals bot, with the audit channel set: the fixture the watch suites share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.runtime.watch import Watcher, build_watcher

AUDIT = "C0DBAOPS01"


@pytest.fixture
def watched(approvals_bot: Bot) -> Iterator[tuple[Bot, Watcher]]:
    approvals_bot.deps.audit_channel = AUDIT
    watcher = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=1)
    yield approvals_bot, watcher
    watcher.stop()
