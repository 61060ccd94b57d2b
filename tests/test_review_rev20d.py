"""Review rev20d (issue 20): Slack not answering a form's views.open, PlanetScale error bodies that cannot be read,
and signed view submissions whose state is not Slack's shape."""

from __future__ import annotations

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault


@pytest.mark.parametrize("command", ["edit acme/app-db bp03devday", "edit acme/*", "create acme/app-db"],
                         ids=["edit", "bulk-edit", "create"])
def test_a_views_open_slack_does_not_answer_in_time_is_told_to_the_person_in_words(
        bot: Bot, planetscale: PlanetScaleState, command: str, caplog: pytest.LogCaptureFixture) -> None:
    """A form's views.open that Slack does not answer within the client's timeout raised a TimeoutError past the
    handlers' `except SlackApiError`: `edit` and `create` told the person "Something went wrong inside the bot"
    with a traceback in the log, and the bulk form's `edit acme/*` told them nothing at all."""
    bot.deps.slack.http.client.timeout = 0.5  # type: ignore[union-attr]
    bot.slack.add_fault(MethodFault(method="views.open", delay=2.0))
    reply = bot.command(command)
    [told] = reply.private
    assert "did not open the form" in told.text, told.text
    assert "Something went wrong" not in reply.all_text()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert planetscale.calls() == []
