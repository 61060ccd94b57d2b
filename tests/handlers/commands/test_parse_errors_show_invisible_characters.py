"""A command the bot cannot parse is answered with the part it could not read echoed back: a bidi override or a
zero-width space typed (or pasted) there is shown as its escape (`\\u202e`), as names are everywhere else, never
sent raw, where it would reorder or hide the words around it and make the answer say something else."""

from __future__ import annotations

import pytest
from conftest import Bot

TYPED = [
    ("fr\u202eob acme/app-db", "\\u202e"),
    ("list ac\u202eme/app-db", "\\u202e"),
    ("update acme/app-db bp01prod12h retention_va\u200blue=3", "\\u200b"),
    ("update acme/app-db bp01prod12h retention_value=3\u202e", "\\u202e"),
    ("update acme/app-db bp01prod12h target=prod\u2066uction", "\\u2066"),
    ("update acme/app-db bp01prod12h frequency_unit=da\ufeffy", "\\ufeff"),
    ("list acme/app-db --fl\u202eag", "\\u202e"),
]


@pytest.mark.parametrize(("text", "shown"), TYPED)
def test_a_parse_error_shows_an_invisible_character_typed_as_its_escape(bot: Bot, text: str, shown: str) -> None:
    said = bot.command(text).all_text()
    assert ":warning:" in said, said
    assert shown in said, said
    assert not any(ch in said for ch in "\u202e\u200b\u2066\ufeff"), repr(said)
