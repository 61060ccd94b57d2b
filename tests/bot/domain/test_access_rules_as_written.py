"""What access.toml says is what the bot obeys. A rule or guardrail whose `channels` or `targets` is an empty list
was read as naming every channel or both targets (as if the key were left out), so a rule emptied to disable it
decided for every channel; and a pattern no PlanetScale name can match (`"app-db "`, `"acme/app-db"`, `""`) was
taken without a word, so a guardrail written so bounded nothing and a rule written so left its databases to the
next rule. Each is now refused with its line, as every other mistake of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.access_file import AccessFile
from bot.domain.access_rules import AccessFileError, parse_rules

RULE = "[[rules]]\norganizations = {org}\ndatabases = {db}\neditors = ['U0ALICE001']\n"
GOOD_RULE = RULE.format(org="['acme']", db="['*']")
GUARDRAIL = "[[guardrails]]\norganizations = {org}\ndatabases = {db}\nmin_retention = '7d'\n"


@pytest.mark.parametrize(("key", "line"), [("channels", 5), ("targets", 5)])
def test_a_rule_naming_no_channel_or_no_target_is_refused(key: str, line: int) -> None:
    with pytest.raises(AccessFileError) as refused:
        parse_rules(GOOD_RULE + f"{key} = []\n")
    said = str(refused.value)
    assert f"line {line} (rule 1): {key}:" in said, said
    assert f"leave `{key}` out" in said, said


def test_a_guardrail_naming_no_target_is_refused() -> None:
    with pytest.raises(AccessFileError) as refused:
        parse_rules(GOOD_RULE + GUARDRAIL.format(org="['acme']", db="['*']") + "targets = []\n")
    assert "line 9 (guardrail 1): targets:" in str(refused.value), str(refused.value)


@pytest.mark.parametrize(("org", "db", "key", "said"), [
    ("['acme']", "['app-db ']", "databases", "`app-db ` holds a space"),
    ("[' acme']", "['*']", "organizations", "` acme` holds a space"),
    ("['acme']", "['app\u00a0db']", "databases", "holds a space"),
    ("['acme']", "['acme/app-db']", "databases", "holds `/`"),
    ("['acme']", "['']", "databases", "is empty"),
    ("['acme']", '["app-db\\n"]', "databases", "holds a control character"),
    ("['acme']", "['app.db']", "databases", "holds `.`"),
])
def test_a_pattern_no_planetscale_name_can_match_is_refused(org: str, db: str, key: str, said: str) -> None:
    for text, where in ((RULE.format(org=org, db=db), "line 2 (rule 1)" if key == "organizations"
                         else "line 3 (rule 1)"),
                        (GOOD_RULE + GUARDRAIL.format(org=org, db=db), "line 6 (guardrail 1)"
                         if key == "organizations" else "line 7 (guardrail 1)")):
        with pytest.raises(AccessFileError) as refused:
            parse_rules(text)
        message = str(refused.value)
        assert f"{where}: {key}:" in message and said in message, message
        assert "letters, digits, `-` and `_`" in message, message


def test_the_patterns_planetscale_names_can_match_are_taken() -> None:
    rules = parse_rules(RULE.format(org="['acme', 'ac?e', 'Acme-2']", db="['app-db', 'a_b', '*', 'billing-[0-9]', "
                                                                        "'[!x]*', 'App-DB']"))
    assert rules.rules[0].databases == ["app-db", "a_b", "*", "billing-[0-9]", "[!x]*", "app-db"]
    assert rules.rules[0].organizations == ["acme", "ac?e", "acme-2"]


def test_a_reload_emptying_a_rules_channels_keeps_the_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "access.toml"
    path.write_text(GOOD_RULE + "channels = ['C0DBAOPS01']\n")
    clock = [1e9]
    rules = AccessFile(str(path), clock=lambda: clock[0])
    path.write_text(GOOD_RULE + "channels = []\n")
    assert rules.rules.rules[0].channels == ["C0DBAOPS01"]  # first seen: taken once it has settled
    clock[0] += 10
    assert rules.rules.rules[0].channels == ["C0DBAOPS01"]
    assert rules.problem is not None and rules.problem.line == 5


@pytest.mark.parametrize(("pattern", "said"), [
    ("!scratch-*", "`!scratch-*` matches no PlanetScale name"),  # gitignore's negation: fnmatch reads `!` as itself
    ("app-db[", "`app-db[` matches no PlanetScale name"),  # an unclosed `[` is read as itself
    ("[]", "`[]` matches no PlanetScale name"),
    ("billing-]", "`billing-]` matches no PlanetScale name"),
    ("[!a-z0-9_-]*", "`[!a-z0-9_-]*` matches no PlanetScale name"),
])
def test_a_glob_whose_brackets_or_bang_match_no_name_is_refused(pattern: str, said: str) -> None:
    """A guardrail written `databases = ["!scratch-*"]` (meaning every database but the scratch ones) bounded no
    database at all, without a word: fnmatch reads a `!` outside brackets, and an unclosed `[`, as themselves, and
    no PlanetScale name holds either."""
    for text, where in ((RULE.format(org="['acme']", db=f"['{pattern}']"), "line 3 (rule 1)"),
                        (GOOD_RULE + GUARDRAIL.format(org="['acme']", db=f"['{pattern}']"), "line 7 (guardrail 1)")):
        with pytest.raises(AccessFileError) as refused:
            parse_rules(text)
        message = str(refused.value)
        assert f"{where}: databases:" in message and said in message, message
        assert "letters, digits, `-` and `_`" in message, message
