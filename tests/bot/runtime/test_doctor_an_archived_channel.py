"""An archived channel refuses every post (`is_archived`): the audit channel's entries are given up for good
(handlers/posting.py REFUSED_FOR_GOOD) and a rule's channel takes no request. doctor said such a channel
"exists", as conversations.info answers it ok with `is_archived: true`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_doctor import findings, run
from test_doctor import healthy as healthy  # the fixture

from bot.emulators.slack import MethodFault, SlackState
from bot.runtime.settings import Settings


@pytest.mark.parametrize("where", ["BACKUP_BOT_AUDIT_CHANNEL", "rule 1"])
def test_an_archived_channel_is_a_problem_with_a_fix(healthy: Settings, slack: SlackState, tmp_path: Path,
                                                     where: str) -> None:
    slack.add_channel("C0ARCHIVED", "old-ops")
    slack.add_fault(MethodFault("conversations.info", channel="C0ARCHIVED", times=None, body={
        "ok": True, "channel": {"id": "C0ARCHIVED", "name": "old-ops", "is_channel": True, "is_archived": True}}))
    if where == "rule 1":
        (tmp_path / "access.toml").write_text(
            '[[rules]]\norganizations = ["acme"]\ndatabases = ["app-db"]\neditors = ["@dba-team"]\n'
            'channels = ["C0ARCHIVED"]\n')
        settings = healthy
    else:
        settings = replace(healthy, audit_channel="C0ARCHIVED")
    problems, out = run(settings)
    assert problems == 1, out
    [(line, fix)] = findings(out).items()
    assert where in line and "C0ARCHIVED is archived" in line, out
    assert "unarchive" in fix, fix
    assert "channel C0ARCHIVED exists" not in out
