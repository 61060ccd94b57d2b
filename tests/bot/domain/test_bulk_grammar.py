"""The bulk forms of `update` and `edit`: globs over databases and policy names, `--where target=…`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.bulk_grammar import BulkEditCommand, BulkUpdateCommand, parse_command
from bot.domain.grammar import CommandError, DatabaseRef, EditCommand, UpdateCommand


def test_a_database_glob_makes_a_bulk_update() -> None:
    parsed = parse_command('update acme/* "Production daily" retention=30d')
    assert isinstance(parsed, BulkUpdateCommand)
    assert parsed.db == DatabaseRef("acme", "*") and parsed.policy == "Production daily"
    assert parsed.update.to_api() == {"retention_value": 30, "retention_unit": "day"}


def test_where_narrows_to_a_target_wherever_it_stands() -> None:
    for text in ("update acme/billing-* * --where target=production retention=14d",
                 "update acme/billing-* * retention=14d --where target=Production",
                 'update acme/billing-* * retention=14d reason="audit" --where target=production --dry-run'):
        parsed = parse_command(text)
        assert isinstance(parsed, BulkUpdateCommand) and parsed.where_target == "production"
        assert parsed.update.to_api() == {"retention_value": 14, "retention_unit": "day"}
        assert parsed.selection == "acme/billing-* * where target=production"


def test_a_policy_glob_or_where_on_one_database_is_bulk_and_a_plain_update_is_not() -> None:
    assert isinstance(parse_command('update acme/app-db "Production *" retention=30d'), BulkUpdateCommand)
    assert isinstance(parse_command("update acme/app-db * --where target=development retention=30d"),
                      BulkUpdateCommand)
    assert isinstance(parse_command('update acme/app-db "Production daily" retention=30d'), UpdateCommand)


def test_edit_over_a_glob_is_the_bulk_form_and_over_one_policy_the_usual_one() -> None:
    assert parse_command("edit acme/billing-*") == BulkEditCommand(DatabaseRef("acme", "billing-*"), "*")
    assert parse_command('edit acme/app-db "Production *"') == BulkEditCommand(DatabaseRef("acme", "app-db"),
                                                                               "Production *")
    assert isinstance(parse_command('edit acme/app-db "Production daily"'), EditCommand)


@pytest.mark.parametrize(("text", "words"), [
    ("update acme/* * --where target=staging retention=5d", "is not a target"),
    ("update acme/* * --where retention=5d", "`--where` takes target=production"),
    ("update acme/* * --where", "`--where` takes target=production"),
    ("update acme/* * --where target=production --where target=development retention=5d", "given twice"),
    ("update a*/* * retention=5d", "one organization"),
    ("update acme/* * --where target=production", "Nothing to change"),
    ("update acme/* * retention=5m", "ambiguous"),
    ("edit acme/* * extra", "Unexpected"),
])
def test_each_mistake_is_named_with_a_fix(text: str, words: str) -> None:
    with pytest.raises(CommandError, match=words):
        parse_command(text)


@given(st.text(max_size=80))
def test_any_text_parses_or_is_answered(text: str) -> None:
    try:
        parse_command("update " + text)
        parse_command("edit " + text)
    except CommandError as exc:
        assert str(exc)
