"""docs/architecture.md's diagram draws every import between the layers, and nothing else."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"runtime": "bot.runtime", "handlers": "handlers", "adapters": "bot.adapters", "domain": "bot.domain",
          "emulators": "bot.emulators"}


def layer_of(module: str) -> str | None:
    return next((name for name, package in LAYERS.items()
                 if module == package or module.startswith(package + ".")), None)


def imported_arrows() -> set[tuple[str, str]]:
    arrows = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        source = layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                target = layer_of(name)
                if source and target and source != target:
                    arrows.add((source, target))
    return arrows


def drawn_arrows() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    arrows = set()
    for line in diagram.splitlines():
        chain = [part.strip() for part in line.split("-->")]
        if len(chain) > 1 and all(re.fullmatch(r"\w+", part) for part in chain):
            arrows.update(itertools.pairwise(chain))
    return arrows


def test_the_diagram_draws_exactly_the_imports_between_layers() -> None:
    assert drawn_arrows() == imported_arrows()


HOUSE_WORDS = ["door", "turn", "hold", "lease", "sweep", "judge", "verdict", "outcome", "notice", "claim", "tried",
               "told", "ack"]


def test_the_glossary_says_each_house_word() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    glossary = text.split("## Words used here and in the code", 1)[1].split("\n## ", 1)[0]
    defined = {m.group(1) for m in re.finditer(r"^\| ([^|]+?) \|", glossary, re.MULTILINE)}
    assert [w for w in HOUSE_WORDS if w not in defined] == []
