"""Fails on any circle of imports among the bot's modules: `python tools/import_cycles.py bot handlers`.

A circle means neither module can be read, tested or moved without the other, and Python resolves it only by
importing inside functions or under TYPE_CHECKING; so every import counts here, wherever it is written.
`from package import name` counts as importing `package.name` when that is a module, else `package`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path


def module_name(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[:len(parts) - node.level + 1], *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1:
                        found.append(sorted(part))
    return sorted(found)


def check_sources(sources: dict[str, str]) -> list[list[str]]:
    """`sources`: a file's path (`bot/x.py`) to its text."""
    modules = {module_name(path): path for path in sources}
    graph = {module: imports(ast.parse(sources[path]), module, Path(path).name == "__init__.py", set(modules))
             for module, path in modules.items()}
    return cycles_in(graph)


def check(roots: Iterable[str]) -> list[list[str]]:
    return check_sources({str(path): path.read_text(encoding="utf-8")
                          for root in roots for path in sorted(Path(root).rglob("*.py"))})


def main(argv: list[str]) -> int:
    found = check(argv)
    for cycle in found:
        print("import circle: " + " ↔ ".join(cycle), file=sys.stderr)
    if found:
        print(f"{len(found)} circle(s) of imports: move what both sides need into a module of its own.",
              file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
