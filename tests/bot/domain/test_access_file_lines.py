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
