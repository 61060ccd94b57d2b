"""A form's views.open that Slack rate-limits with a Retry-After longer than the trigger's life (3 s) is not
waited for: the person hears at once that Slack did not open the form (SlackHttp honoured up to 30 s, twice, so
they heard it a minute later, and the tries after the wait carried a trigger Slack no longer takes). The waits are
recorded, not slept."""

from __future__ import annotations

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault


@pytest.mark.parametrize("command", ["edit acme/app-db bp03devday", "edit acme/*", "create acme/app-db"],
                         ids=["edit", "bulk-edit", "create"])
def test_a_rate_limited_form_is_told_within_its_triggers_life(bot: Bot, planetscale: PlanetScaleState,
                                                              command: str) -> None:
    waited: list[float] = []
    bot.deps.slack.http.sleep = waited.append  # type: ignore[union-attr]
    bot.slack.add_fault(MethodFault(method="views.open", status=429, retry_after=30, times=None))
    reply = bot.command(command)
    [told] = reply.private
    assert "did not open the form" in told.text, told.text
    assert sum(waited) < 3, f"waited {waited} s on a trigger that lives 3 s"
