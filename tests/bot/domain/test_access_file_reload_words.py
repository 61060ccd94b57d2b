"""What a reload that fails says, in /healthz and the log: the file and its reason as one sentence, then that the
last good rules stay. A reason ending its own sentence read "…the rules file itself.; keeping the last good rules."."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.domain.access_file import AccessFile

RULES = ('[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\neditors = ["@dba-team"]\n'
         'approvers = ["@dba-leads"]\napprovals = 1\n')


@pytest.mark.parametrize("breaks", ["a pipe", "no rules"])
def test_a_failed_reload_is_said_in_one_sentence(tmp_path: Path, breaks: str) -> None:
    path = tmp_path / "access.toml"
    path.write_text(RULES)
    now = [1000.0]
    source = AccessFile(str(path), clock=lambda: now[0])
    path.unlink()
    if breaks == "a pipe":
        os.mkfifo(path)
    else:
        path.write_text("# every rule removed\n")
    for _ in range(3):  # seen, settled, reloaded
        now[0] += 100
        assert len(source.rules.rules) == 1
    said = source.last_error
    assert said is not None and said.endswith("; keeping the last good rules.") and str(path) in said, said
    assert ".;" not in said, said
