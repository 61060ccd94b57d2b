"""Review rev20d (issue 20): Slack not answering a form's views.open, PlanetScale error bodies that cannot be read,
and signed view submissions whose state is not Slack's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Bot, make_bot

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import MethodFault, SlackEmulator, SlackState
from bot.runtime.settings import Settings


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


UNREADABLE_ERRORS = {"nested": b"[" * 5000 + b"]" * 5000,
                     "long-number": b'{"code": "not_found", "message": ' + b"1" * 5000 + b"}"}


@pytest.fixture
def answering(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
              tmp_path: Path) -> Iterator[tuple[Bot, dict[str, Any]]]:
    """A bot whose PlanetScale, at the HTTP edge, answers every request with the status and body the test sets."""
    answer: dict[str, Any] = {}
    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=2),
                               sleep=lambda _: None, transport=httpx.MockTransport(
                                   lambda _: httpx.Response(answer["status"], content=answer["body"],
                                                            headers={"content-type": "application/json"})))
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    for bot in make_bot(settings, slack, client, store, slack_server):
        yield bot, answer
    store.close()
    client.close()


@pytest.mark.parametrize("body", list(UNREADABLE_ERRORS))
@pytest.mark.parametrize("status", [404, 422, 503])
def test_a_planetscale_error_whose_body_cannot_be_read_is_told_as_planetscales_error(
        answering: tuple[Bot, dict[str, Any]], status: int, body: str, caplog: pytest.LogCaptureFixture) -> None:
    """The body of an error answer was read for its code and message catching only a JSON decoding error: one nested
    past the parser's depth (RecursionError) or holding a number past Python's digits (ValueError) escaped as
    "Something went wrong inside the bot" with a traceback, where its status says what happened."""
    bot, answer = answering
    answer.update(status=status, body=UNREADABLE_ERRORS[body])
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert f"({status})" in said, said
    assert "Something went wrong" not in said
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
