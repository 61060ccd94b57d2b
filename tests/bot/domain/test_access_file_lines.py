"""A bad access file names the line at fault, wherever TOML lets it be written: a top-level `approvals` or
`guardrails` that is not a table, and a `[[ rules ]]` header with spaces inside its brackets (each was told as
line 0, or as another rule's line)."""

from __future__ import annotations

import pytest

from bot.domain.access_rules import AccessFileError, parse_rules

RULE = '[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["U0CAROL001"]\n'


@pytest.mark.parametrize(("text", "line"), [
    ("# the rules\napprovals = [1]\n" + RULE, 2),
    (RULE + "\n[guardrails]\norganizations = [\"acme\"]\n", 6),
    (RULE + "\n[[ rules ]]\norganizations = [\"acme\"]\ndatabases = [\"*\"]\neditors = [\"carol\"]\n", 9),
    (RULE + "approvals = 1\napprovers = [\"@dba\"]\n\n[approvals]\nexpire = \"1h\"\n", 8),
])
def test_the_line_at_fault_is_named(text: str, line: int) -> None:
    with pytest.raises(AccessFileError) as raised:
        parse_rules(text)
    assert f"access.toml line {line}" in str(raised.value), raised.value


@pytest.mark.parametrize(("text", "key", "line"), [
    ("# the rules\nexpire_after = \"24h\"\n" + RULE, "expire_after", 2),
    ("min_retention = \"7d\"\n\n" + RULE, "min_retention", 1),
    (RULE + "\n[limits]\nx = 1\n", "limits", 6),
])
def test_a_key_or_table_of_no_place_is_named_with_its_line_and_where_it_belongs(text: str, key: str,
                                                                                line: int) -> None:
    """A rule's or [approvals]' key written above every table was told as an "unknown table", and any of them with
    no line."""
    with pytest.raises(AccessFileError) as raised:
        parse_rules(text)
    told = str(raised.value)
    assert told.startswith(f"access.toml line {line}: ") and f"`{key}`" in told, told
    assert "[approvals]" in told and "[[rules]]" in told and "[[guardrails]]" in told, told
