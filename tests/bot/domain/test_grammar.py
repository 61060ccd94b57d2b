"""The command grammar of the README's "Using it", key by key and unit by unit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.commands import (
    CommandError,
    DatabaseRef,
    EditCommand,
    HelpCommand,
    HistoryCommand,
    ListCommand,
    PendingCommand,
    ShowCommand,
    UpdateCommand,
)
from bot.domain.grammar import parse
from bot.domain.tokens import Token, tokenize, tokenize_runs

DB = DatabaseRef("acme", "app-db")


def update(text: str) -> UpdateCommand:
    parsed = parse(f'update acme/app-db "Production daily" {text}')
    assert isinstance(parsed, UpdateCommand)
    return parsed


def sent(text: str) -> dict[str, Any]:
    return update(text).update.to_api()


def error(text: str) -> str:
    with pytest.raises(CommandError) as caught:
        parse(text)
    return str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("", HelpCommand()),
    ("help", HelpCommand()),
    ("help update", HelpCommand()),  # no topics: the whole usage, limited to what the caller may do
    ("list acme/app-db", ListCommand(DB)),
    ("LIST acme/app-db", ListCommand(DB)),
    ("show acme/app-db bp01prod12h", ShowCommand(DB, "bp01prod12h")),
    ('show acme/app-db "Production daily"', ShowCommand(DB, "Production daily")),
    ("show acme/app-db “Production daily”", ShowCommand(DB, "Production daily")),
    ("edit acme/app-db bp01", EditCommand(DB, "bp01")),
    ("history acme/app-db", HistoryCommand(DB)),
    ('history acme/app-db "Production daily"', HistoryCommand(DB, "Production daily")),
    ("pending", PendingCommand()),
])
def test_subcommands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("value", "number", "unit"), [
    ("12h", 12, "hour"), ("12 h", 12, "hour"), ("1hour", 1, "hour"), ("2 hours", 2, "hour"), ("3hr", 3, "hour"),
    ("30d", 30, "day"), ("1 day", 1, "day"), ("30days", 30, "day"), ("30D", 30, "day"),
    ("2w", 2, "week"), ("1 week", 1, "week"), ("4 weeks", 4, "week"),
    ("6mo", 6, "month"), ("1 month", 1, "month"), ("6 months", 6, "month"),
    ("1y", 1, "year"), ("2 years", 2, "year"), ("1 year", 1, "year"),
])
def test_retention_units_with_and_without_a_space(value: str, number: int, unit: str) -> None:
    assert sent(f'retention="{value}"') == {"retention_value": number, "retention_unit": unit}


@pytest.mark.parametrize(("value", "number", "unit"), [
    ("12h", 12, "hour"), ("1d", 1, "day"), ("2 weeks", 2, "week"), ("1mo", 1, "month"),
])
def test_frequency_units(value: str, number: int, unit: str) -> None:
    assert sent(f'frequency="{value}"') == {"frequency_value": number, "frequency_unit": unit}


def test_an_unquoted_unit_word_after_a_number_belongs_to_it() -> None:
    assert sent("retention=30 days at=02:00") == {"retention_value": 30, "retention_unit": "day",
                                                  "schedule_time": "02:00"}


@pytest.mark.parametrize(("value", "day"), [
    ("sun", 0), ("Sunday", 0), ("mon", 1), ("tue", 2), ("tues", 2), ("wednesday", 3), ("thu", 4),
    ("thurs", 4), ("fri", 5), ("sat", 6), ("saturday", 6), ("0", 0), ("6", 6),
])
def test_days(value: str, day: int) -> None:
    assert sent(f"day={value}") == {"schedule_day": day}


@pytest.mark.parametrize(("value", "week"), [
    ("1st", 0), ("first", 0), ("2nd", 1), ("second", 1), ("3rd", 2), ("third", 2), ("4th", 3), ("FOURTH", 3),
])
def test_weeks_are_sent_zero_based(value: str, week: int) -> None:
    assert sent(f"week={value}") == {"schedule_week": week}


@pytest.mark.parametrize(("text", "fields"), [
    ("retention_value=7", {"retention_value": 7}),
    ("retention_unit=week", {"retention_unit": "week"}),
    ("frequency_value=6 frequency_unit=hour", {"frequency_value": 6, "frequency_unit": "hour"}),
    ("schedule_time=02:30", {"schedule_time": "02:30"}),
    ("schedule_day=3", {"schedule_day": 3}),
    ("schedule_day=wed", {"schedule_day": 3}),
    ("schedule_week=0", {"schedule_week": 0}),
    ("schedule_week=3", {"schedule_week": 3}),
    ('name="Nightly full"', {"name": "Nightly full"}),
    ("name=Nightly", {"name": "Nightly"}),
    ("target=PRODUCTION", {"target": "production"}),
    ("at=2:05", {"schedule_time": "02:05"}),
    ("at=00:00", {"schedule_time": "00:00"}),
])
def test_the_apis_own_field_names_and_other_keys(text: str, fields: dict[str, Any]) -> None:
    assert sent(text) == fields


def test_reason_and_dry_run_are_not_fields() -> None:
    parsed = update('retention=30d reason="the auditors \\"asked\\"" --dry-run')
    assert parsed.update.to_api() == {"retention_value": 30, "retention_unit": "day"}
    assert parsed.reason == 'the auditors "asked"'
    assert parsed.dry_run is True


def test_slack_escapes_are_undone() -> None:
    assert sent('name="R&amp;D &lt;daily&gt;"') == {"name": "R&D <daily>"}


@pytest.mark.parametrize(("text", "expected"), [
    ("lst acme/app-db", "Did you mean `list`"),
    ("list", "needs a database"),
    ("list acme", "<organization>/<database>"),
    ("list acme/app-db/x", "<organization>/<database>"),
    ("list /app-db", "<organization>/<database>"),
    ("list acme/app.db", "not a valid database"),
    ("list ac me/app-db", "<organization>/<database>"),
    ("list ../app-db", "not a valid organization"),
    ('list "acme/app-db\n"', "not a valid database"),
    ('list "acme\n/app-db"', "not a valid organization"),
    ("show acme/app-db", "needs a policy"),
    ("show acme/app-db retention=3d", "needs a policy"),
    ("show acme/app-db Production daily", 'Quote a policy name'),
    ("pending now", "Unexpected"),
    ('show acme/app-db "unclosed', "not closed"),
    ('update acme/app-db "Production daily"', "Nothing to change"),
    ('update acme/app-db "Production daily" retention', "key=value"),
    ('update acme/app-db "Production daily" retention=', "has no value"),
    ('update acme/app-db "Production daily" reten=3d', "Did you mean `retention`"),
    ('update acme/app-db "Production daily" frequncy=3d', "Did you mean `frequency`"),
    ('update acme/app-db "Production daily" colour=red', "Keys: name, target"),
    ('update acme/app-db "Production daily" retention=3', "needs a unit"),
    ('update acme/app-db "Production daily" retention=3m', "`mo` for months"),
    ('update acme/app-db "Production daily" retention=3min', "minutes are not a backup unit"),
    ('update acme/app-db "Production daily" retention=3 fortnights', "`retention=3 fortnights` is not a unit"),
    ('update acme/app-db "Production daily" retention=3x', "not a unit"),
    ('update acme/app-db "Production daily" retention=0d', "at least 1"),
    ('update acme/app-db "Production daily" retention=-1w', "at least 1"),
    ('update acme/app-db "Production daily" retention=2.5d', "whole number"),
    ('update acme/app-db "Production daily" retention=lots', "not an amount"),
    ('update acme/app-db "Production daily" retention=3000000000d', "too large"),
    ('update acme/app-db "Production daily" frequency=1y', "cannot run yearly"),
    ('update acme/app-db "Production daily" frequency_unit=year', "cannot run yearly"),
    ('update acme/app-db "Production daily" retention_unit=m', "`mo` for months"),
    ('update acme/app-db "Production daily" retention_value=ten', "not a whole number"),
    ('update acme/app-db "Production daily" retention_value=0', "at least 1"),
    ('update acme/app-db "Production daily" at=24:00', "not a time"),
    ('update acme/app-db "Production daily" at=12:60', "not a time"),
    ('update acme/app-db "Production daily" at=2pm', "2pm is 14:00"),
    ('update acme/app-db "Production daily" at=0200', "HH:MM"),
    ('update acme/app-db "Production daily" at=٠٢:٠٠', "not a time"),
    ('update acme/app-db "Production daily" retention_value=٣', "not a whole number"),
    ('update acme/app-db "Production daily" day=7', "not a day"),
    ('update acme/app-db "Production daily" day=mnday', "Did you mean `monday`"),
    ('update acme/app-db "Production daily" week=1', "1st, 2nd, 3rd or 4th"),
    ('update acme/app-db "Production daily" week=last', "no 5th or last"),
    ('update acme/app-db "Production daily" schedule_week=4', "0 to 3"),
    ('update acme/app-db "Production daily" target=staging', "production or development"),
    ('update acme/app-db "Production daily" target=dev', "Did you mean `target=development`"),
    ('update acme/app-db "Production daily" name=""', "1 to 255"),
    ('update acme/app-db "Production daily" retention=3d retention=4d', "give it once"),
    ('update acme/app-db "Production daily" retention=3d retention_unit=day', "give it once"),
    ('update acme/app-db "Production daily" reason=a reason=b retention=3d', "twice"),
    ('update acme/app-db "Production daily" retention=3d reason=""', "is empty"),
    ('update acme/app-db "Production daily" retention=3d --yes', "Unknown option"),
    ('update acme/app-db "Production daily" retention=3d --dryrun', None),
])
def test_errors_name_the_bad_part_and_the_fix(text: str, expected: str | None) -> None:
    if expected is None:
        assert isinstance(parse(text), UpdateCommand)
        return
    message = error(text)
    assert expected in message, message


def test_an_overlong_command_is_refused() -> None:
    assert "the most is 4000" in error("list acme/app-db " + "x" * 5000)


def test_an_overlong_reason_is_refused() -> None:
    assert "the most is 500" in error(f'update acme/app-db p retention=3d reason="{"x" * 501}"')


def test_tokenizer_keeps_quoted_spaces_and_marks_quoted_tokens() -> None:
    tokens = tokenize('a "b c" d="e f"')
    assert [(t.text, t.quoted) for t in tokens] == [("a", False), ("b c", True), ("d=e f", True)]


@given(st.text(alphabet='ab=" “”„\\\t\n\u00a0\u2003\x1c\x85', max_size=30))
def test_the_tokenizers_fast_paths_split_as_the_general_one(text: str) -> None:
    try:
        general: list[Token] | str = tokenize_runs(text)
    except CommandError as exc:
        general = str(exc)
    try:
        chosen: list[Token] | str = tokenize(text)
    except CommandError as exc:
        chosen = str(exc)
    assert chosen == general


@pytest.mark.parametrize("text", ["day=²", "schedule_week=³", "week=١", "retention=٣ days", "retention_value=²"])
def test_digits_that_are_not_ascii_are_refused_with_a_message(text: str) -> None:
    assert error(f'update acme/app-db "Production daily" {text}')  # found by the fuzzer: it used to raise


@pytest.mark.parametrize(("text", "expected"), [
    ("list ACME/App-DB", ListCommand(DB)),
    ("show Acme/APP-DB bp01prod12h", ShowCommand(DB, "bp01prod12h")),  # the policy ID keeps its case
    ("history acme/App-DB", HistoryCommand(DB)),
])
def test_organization_and_database_are_lowercased_as_planetscale_names_them(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "key"), [
    ('update acme/app-db "Production daily" retention=3d reason="audit \x1b[31masks\x1b[0m"', "reason"),
    ('update acme/app-db "Production daily" retention=3d reason="line\tone"', "reason"),
    ('update acme/app-db "Production daily" retention=3d reason="a\x9bb"', "reason"),  # C1 CSI
    ('update acme/app-db "Production daily" name="Nightly\x07"', "name"),
    ('update acme/app-db "Production daily" name="Night\nly"', "name"),
    ('update acme/app-db "Production daily" name="Nightly\x7f"', "name"),
])
def test_control_characters_in_free_text_are_refused_naming_the_field_and_the_fix(text: str, key: str) -> None:
    message = error(text)
    assert f"`{key}` holds a control character" in message and "plain text on one line" in message


def test_a_formula_in_a_reason_is_text_and_is_kept_as_typed() -> None:
    parsed = update('retention=3d reason="=HYPERLINK(\\"https://evil.example\\",\\"x\\")"')
    assert parsed.reason == '=HYPERLINK("https://evil.example","x")'


@pytest.mark.parametrize(("text", "organization", "database", "chosen"), [
    ("export acme/app-db", "acme", "app-db", "terraform"),
    ("export ACME/Billing-* JSON", "acme", "billing-*", "json"),
    ("export acme/* terraform", "acme", "*", "terraform"),
    ("export acme/db-?", "acme", "db-?", "terraform"),
])
def test_export_takes_a_database_or_a_glob_and_a_format(text: str, organization: str, database: str,
                                                        chosen: str) -> None:
    from bot.domain.commands import ExportCommand

    assert parse(text) == ExportCommand(DatabaseRef(organization, database), chosen)


@pytest.mark.parametrize(("text", "says"), [
    ("export", "needs a database"),
    ("export acme/app-db yaml", "`yaml` is not an export format"),
    ("export acme/app-db jsn", "Did you mean `json`?"),
    ("export a*/app-db", "an export covers one organization, so no glob there"),
    ("export ac.me/*", "`ac.me` is not a valid organization name"),
    ("export acme/app.db", "not a valid database name"),
    ("export acme/-", "not a valid database name"),
    ("export acme/app-db json extra", "Unexpected `extra` after `export`"),
])
def test_a_bad_export_is_answered_naming_the_part_and_the_fix(text: str, says: str) -> None:
    assert says in error(text)
