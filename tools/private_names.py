"""Fails on any use of a third-party library's private names in the bot: `python tools/private_names.py bot handlers`.

A library's private names (one leading underscore; dunders are public protocol) change without notice between
releases, so an upgrade that keeps every documented API can still break code that reaches into them. Found:
- an import of such a name, or from a private module (`from slack_bolt.x import _y`, `import uvicorn._z`);
- an attribute read of such a name (`app._listeners`, `self._base_logger`), or through getattr/hasattr/setattr
  with the name as a literal, unless the bot itself defines a name so spelt (its own privates are its own);
- a class deriving from a third-party class that defines a private name that class already has (an override);
- an import of a third-party module that is not in DOCUMENTED: a library's undocumented modules
  (`uvicorn.protocols.http.h11_impl`, `slack_bolt.listener.*`) change between releases as freely as its private
  names. DOCUMENTED lists each module the code uses that its library's documentation names; a new one is added
  there once its documentation is found.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

OURS = frozenset({"bot", "handlers", "tests", "tools", "bench"})
REFLECTION = frozenset({"getattr", "hasattr", "setattr", "delattr"})

# The third-party modules the bot may import, each named by its library's documentation (user guide or API
# reference); a package's top level is its documented face, its submodules only as listed.
DOCUMENTED = frozenset({
    # Bolt's API reference (tools.slack.dev/bolt-python/api-docs) and its adapter guides
    "slack_bolt", "slack_bolt.error", "slack_bolt.adapter.socket_mode", "slack_bolt.adapter.starlette",
    "slack_bolt.adapter.starlette.handler",
    # its reference's slack_bolt.middleware page (docs.slack.dev/tools/bolt-python/reference/middleware/): the
    # Middleware class App.middleware takes
    "slack_bolt.middleware",
    # slack_sdk's reference (tools.slack.dev/python-slack-sdk/api-docs)
    "slack_sdk", "slack_sdk.web", "slack_sdk.webhook", "slack_sdk.errors", "slack_sdk.signature",
    "slack_sdk.models.blocks", "slack_sdk.models.views", "slack_sdk.models.attachments",
    # slack_sdk's Socket Mode guide (docs.slack.dev/tools/python-slack-sdk/socket-mode)
    "slack_sdk.socket_mode",
    # Starlette's guides import each class from its module
    "starlette.applications", "starlette.requests", "starlette.responses", "starlette.routing",
    "starlette.websockets", "starlette.exceptions",
    # SQLAlchemy's core reference
    "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.exc",
    # its dialects' pages, "INSERT…ON CONFLICT (Upsert)": `from sqlalchemy.dialects.postgresql import insert`
    "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite",
    # Alembic's API reference (alembic.sqlalchemy.org/en/latest/api/) and its env.py template: op, context,
    # command, Config, MigrationContext, ScriptDirectory
    "alembic", "alembic.op", "alembic.context", "alembic.command", "alembic.config", "alembic.runtime.migration",
    "alembic.script",
    # top levels only: uvicorn's Config and Server, httpx, pydantic, pydantic-settings, python-dotenv,
    # prometheus_client, tenacity, trustme
    "uvicorn", "httpx", "pydantic", "pydantic_settings", "dotenv", "prometheus_client", "tenacity", "trustme",
    # uvloop's README: `uvloop.run(main())`, its way to run a coroutine on its loop (uvicorn[standard] brings it)
    "uvloop",
    # prometheus_client's pages "Custom Collectors" (core's metric families, registry's Collector) and "Parser"
    "prometheus_client.core", "prometheus_client.registry", "prometheus_client.parser",
})


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def third_party(module: str) -> bool:
    top = module.split(".")[0]
    return bool(top) and top not in OURS and top not in sys.stdlib_module_names and top != "__future__"


def undocumented(module: str) -> bool:
    return third_party(module) and module not in DOCUMENTED


def is_module(name: str) -> bool:
    """Whether `name` is an importable module (so `from a.b import c` may name the module `a.b.c`)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def defined_names(tree: ast.AST) -> set[str]:
    """Every private name the code defines: functions, classes, variables, attributes it assigns, parameters."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
    return {n for n in names if is_private(n)}


def imported_from_libraries(tree: ast.AST) -> dict[str, tuple[str, str | None]]:
    """The local names bound to a third-party module or to something imported from one: (module, name in it)."""
    names: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if third_party(alias.name):
                    local = alias.asname or alias.name.split(".")[0]
                    names[local] = (alias.name if alias.asname else local, None)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and third_party(node.module):
            names.update({alias.asname or alias.name: (node.module, alias.name) for alias in node.names})
    return names


def resolve(node: ast.expr, libraries: dict[str, tuple[str, str | None]]) -> object | None:
    """The library object a base class expression names (`App`, `httpx.BaseTransport`), or None if unknown."""
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in libraries:
        return None
    module, name = libraries[node.id]
    try:
        found: object = importlib.import_module(module)
        for part in ([name] if name else []) + path:
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found


def overrides(bases: list[object | None], name: str) -> bool:
    """Whether a library's base class already has `name`; a base that cannot be looked at counts as having it."""
    return any(base is None or hasattr(base, name) for base in bases)


def root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


UNDOCUMENTED = "a module its library does not document (tools/private_names.py DOCUMENTED)"


def check_tree(tree: ast.AST, path: str, ours: set[str]) -> Iterator[Finding]:
    libraries = imported_from_libraries(tree)
    standard = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names if alias.name in sys.stdlib_module_names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if third_party(alias.name) and any(is_private(part) for part in alias.name.split(".")):
                    yield Finding(path, node.lineno, f"imports the private module {alias.name}")
                elif undocumented(alias.name):
                    yield Finding(path, node.lineno, f"imports {alias.name}, {UNDOCUMENTED}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and third_party(node.module):
            if any(is_private(part) for part in node.module.split(".")):
                yield Finding(path, node.lineno, f"imports from the private module {node.module}")
            elif undocumented(node.module):
                yield Finding(path, node.lineno, f"imports from {node.module}, {UNDOCUMENTED}")
            for alias in node.names:
                if is_private(alias.name):
                    yield Finding(path, node.lineno, f"imports {node.module}'s private {alias.name}")
                elif (not undocumented(node.module) and undocumented(f"{node.module}.{alias.name}")
                      and is_module(f"{node.module}.{alias.name}")):
                    yield Finding(path, node.lineno, f"imports {node.module}.{alias.name}, {UNDOCUMENTED}")
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in standard:
                continue  # the standard library documents the few it has (`os._exit`)
            if root_name(node.value) in libraries or node.attr not in ours:
                yield Finding(path, node.lineno, f"reads a library's private attribute {node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in REFLECTION
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and is_private(node.args[1].value)):
            name = node.args[1].value
            if root_name(node.args[0]) in libraries or name not in ours:
                yield Finding(path, node.lineno, f"reaches a library's private attribute {name} by {node.func.id}")
        elif isinstance(node, ast.ClassDef) and any(root_name(base) in libraries for base in node.bases):
            bases = [resolve(base, libraries) for base in node.bases if root_name(base) in libraries]
            for item in node.body:
                for name in _names_defined_by(item):
                    if is_private(name) and overrides(bases, name):
                        yield Finding(path, item.lineno, f"{node.name} overrides its library base's private {name}")


def _names_defined_by(item: ast.stmt) -> Iterable[str]:
    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield item.name
    elif isinstance(item, ast.Assign):
        yield from (t.id for t in item.targets if isinstance(t, ast.Name))
    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
        yield item.target.id


def check_sources(sources: dict[str, str]) -> list[Finding]:
    """Findings in the given sources (path: text), each judged against the private names all of them define."""
    trees = {path: ast.parse(text, filename=path) for path, text in sources.items()}
    ours: set[str] = set().union(*(defined_names(tree) for tree in trees.values()))
    return [finding for path, tree in trees.items() for finding in check_tree(tree, path, ours)]


def check(roots: Iterable[str]) -> list[Finding]:
    files = sorted(p for root in roots for p in Path(root).rglob("*.py"))
    return check_sources({str(p): p.read_text(encoding="utf-8") for p in files})


def main(argv: list[str]) -> int:
    findings = check(argv or ["bot", "handlers"])
    for finding in findings:
        print(finding, file=sys.stderr)
    if findings:
        print(f"{len(findings)} use(s) of a third-party library's private names or undocumented modules: use a "
              "documented API instead.",
              file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
