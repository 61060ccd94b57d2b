"""Fails on Slack markup where the bot keeps plain facts: `python tools/slack_markup.py bot/domain bot/adapters/store`.

The domain names people, groups and channels by ID (bot/domain/naming.py), and the store writes to the audit
trail what the domain hands it; the handlers alone render for Slack. Found: a string or f-string part, other
than a docstring, that builds a mention (`<@`, `<#`, `<!subteam^`, `<!here>`), a link (`<http…|…>`) or one of
mrkdwn's escapes (`&lt;`, `&gt;`, `&amp;`).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MARKUP = re.compile(r"<[@#!]|<(?:https?|mailto):|subteam\^|&(?:lt|gt|amp);")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: Slack markup {self.text!r}: name the ID (bot/domain/naming.py) instead"


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes: words about markup are not markup."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def check_tree(tree: ast.AST, path: str) -> Iterator[Finding]:
    skipped = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            match = MARKUP.search(node.value)
            if match:
                yield Finding(path, node.lineno, node.value[max(0, match.start() - 20):match.end() + 20])


def check_sources(sources: dict[str, str]) -> list[Finding]:
    return [f for path, text in sources.items() for f in check_tree(ast.parse(text, filename=path), path)]


def check(roots: Iterable[str]) -> list[Finding]:
    files = sorted(p for root in roots for p in Path(root).rglob("*.py"))
    return check_sources({str(p): p.read_text(encoding="utf-8") for p in files})


def main(argv: list[str]) -> int:
    findings = check(argv or ["bot/domain", "bot/adapters/store"])
    for finding in findings:
        print(finding, file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
