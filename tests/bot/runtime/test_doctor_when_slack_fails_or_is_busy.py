"""`backup-bot doctor` when Slack itself fails (HTTP 500), limits the calls (429) or answers something that is not
Slack's Web API: doctor says so, with the fix for that, instead of blaming the token, a scope or the channel ID
(it used to say "Slack refused SLACK_BOT_TOKEN (None)" and "check the token" for a 500)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_doctor import healthy as healthy  # the fixture
from test_doctor import problem_lines, run

from bot.emulators.slack import MethodFault, SlackState
from bot.runtime.settings import Settings

# What each check tells when the cause is the thing checked: wrong for a failure on Slack's side.
BLAMED = {"auth.test": "check the token", "usergroups.list": "grant usergroups:read",
          "conversations.info": "check the channel ID"}
CAUSES = {
    "500": (MethodFault("", status=500, times=None), "Slack answered HTTP 500", "run doctor again in a few minutes"),
    "429": (MethodFault("", status=429, retry_after=1, times=None), "ratelimited", "run doctor again in a minute"),
    "junk": (MethodFault("", body="<html>a captive portal</html>", times=None), "unreadable_answer",
             "SLACK_API_URL"),
}


@pytest.mark.parametrize("method", sorted(BLAMED))
@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_a_failing_busy_or_foreign_slack_is_told_as_such_with_its_fix(
        healthy: Settings, slack: SlackState, method: str, cause: str) -> None:
    fault, said, fix = CAUSES[cause]
    slack.add_fault(replace(fault, method=method))
    problems, out = run(healthy)
    assert problems >= 1, out
    lines = out.splitlines()
    failed = [i for i, line in enumerate(lines) if line.strip().startswith("FAIL")]
    assert failed, out
    first = lines[failed[0]] + "\n" + lines[failed[0] + 1]
    assert said in first and fix in first, out
    assert "None" not in "\n".join(problem_lines(out)), out
    assert BLAMED[method] not in first, out
