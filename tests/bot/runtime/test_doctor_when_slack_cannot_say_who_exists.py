"""`backup-bot doctor` whose `users.info` Slack answers with an error other than "no such user" (its own failure, a
scope taken away, an answer it cannot read): the person the rules name was not checked, and doctor says so as a
problem instead of counting them as there and ending "everything checked is in order"."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_doctor import healthy as healthy  # the fixture
from test_doctor import run

from bot.emulators.slack import MethodFault, SlackState, SlackUser
from bot.runtime.settings import Settings

RULES = """
[[rules]]
organizations = ["acme"]
databases = ["app-db"]
editors = ["U0NOSUCH01"]
"""


@pytest.mark.parametrize(("fault", "said"), [
    (MethodFault("users.info", error="internal_error", times=None), "internal_error"),
    (MethodFault("users.info", error="missing_scope", times=None), "missing_scope"),
    (MethodFault("users.info", body={"ok": True, "user": "U0NOSUCH01"}, times=None), "unreadable_answer"),
])
def test_a_user_slack_could_not_look_up_is_a_problem_not_counted_as_there(
        healthy: Settings, tmp_path: Path, slack: SlackState, fault: MethodFault, said: str) -> None:
    (tmp_path / "access.toml").write_text(RULES)
    slack.add_fault(fault)
    problems, out = run(healthy)
    assert "everything checked is in order" not in out, out
    assert f"user U0NOSUCH01 cannot be checked ({said})" in out, out
    assert problems >= 1, out


def test_a_user_slack_says_does_not_exist_is_still_named_so(healthy: Settings, tmp_path: Path) -> None:
    (tmp_path / "access.toml").write_text(RULES)
    problems, out = run(healthy)
    assert problems >= 1 and "user U0NOSUCH01 does not exist in this workspace" in out, out


def test_a_user_deactivated_in_slack_is_a_problem_not_counted_as_there(
        healthy: Settings, tmp_path: Path, slack: SlackState) -> None:
    """Someone who left: Slack still answers users.info for them, with `deleted: true`. Their place in the rules is
    nobody's: an editor who cannot ask, an approver who cannot click."""
    slack.users["U0GONE0001"] = SlackUser("U0GONE0001", "gone", "Gone Person", "gone@example.com", deleted=True)
    (tmp_path / "access.toml").write_text(RULES.replace("U0NOSUCH01", "U0GONE0001"))
    problems, out = run(healthy)
    assert "everything checked is in order" not in out, out
    assert "user U0GONE0001 is deactivated in this workspace" in out, out
    assert problems >= 1, out
