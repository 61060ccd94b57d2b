"""The check in `make lint` that the domain and the audit trail's writer hold no Slack markup."""

from __future__ import annotations

import pytest

from tools.slack_markup import check, check_sources


def findings(source: str) -> list[str]:
    return [f.text for f in check_sources({"bot/domain/x.py": source})]


def test_the_domain_and_the_store_hold_no_slack_markup() -> None:
    assert [str(f) for f in check(["bot/domain", "bot/adapters/store"])] == []


def test_a_planted_user_mention_is_found() -> None:
    assert findings('def said(user: str) -> str:\n    return f"approved by <@{user}>"\n') == ["approved by <@"]


@pytest.mark.parametrize("source", [
    'x = f"<!subteam^{group}>"\n',
    "x = f\"use {', '.join(f'<#{c}>' for c in channels)}\"\n",
    'x = "<!here> look"\n',
    'x = f"<https://example.com|{name}>"\n',
    'x = text.replace("<", "&lt;")\n',
])
def test_each_kind_of_markup_is_found(source: str) -> None:
    assert findings(source)


def test_plain_names_and_words_about_markup_pass() -> None:
    source = ('"""Slack writes a mention as <@U…>; the domain does not."""\n'
              'def said(user: str) -> str:\n    """Never <@…>."""\n    return f"approved by @{user} in #C1 <= 2"\n')
    assert findings(source) == []
