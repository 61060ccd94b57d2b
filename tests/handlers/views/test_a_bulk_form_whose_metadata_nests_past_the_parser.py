"""A bulk form submitted (signed, through Bolt's real pipeline, on SQLite and PostgreSQL) whose private_metadata
nests deeper than Python's JSON parser goes (a forged form's: the bot writes a flat object): its listener raised
RecursionError, a 500 and a traceback, and the form showed Slack's own error. Now it is answered as any damaged
bulk form, beside its field, as the edit and create forms answer it."""

from __future__ import annotations

import pytest
from approval_helpers import approvals_bot  # noqa: F401
from conftest import Bot

from handlers.views.bulk_edit import BULK_FORM, POLICIES


@pytest.mark.parametrize("metadata", ["[" * 3000, '{"organization": ' * 1500 + '"acme"' + "}" * 1500])
def test_a_bulk_form_whose_metadata_nests_past_the_parser_is_told_it_is_damaged(
        approvals_bot: Bot, caplog: pytest.LogCaptureFixture, metadata: str) -> None:  # noqa: F811
    view = {"id": "V0BULKFORM", "type": "modal", "callback_id": BULK_FORM, "private_metadata": metadata,
            "blocks": []}
    reply = approvals_bot.submit(view)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert reply.response.status == 200
    assert reply.ack == {"response_action": "errors",
                         "errors": {POLICIES: "This form is damaged; close it and open it again."}}
