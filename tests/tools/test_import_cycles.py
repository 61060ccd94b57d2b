"""The check in `make test` against circles of imports among the bot's modules."""

from __future__ import annotations

import pytest

from tools.import_cycles import check, check_sources


def test_the_bot_and_its_handlers_import_in_no_circle() -> None:
    assert check(["bot", "handlers"]) == []


@pytest.mark.parametrize("sources", [
    {"bot/a.py": "from bot.b import x\n", "bot/b.py": "from bot.a import y\n"},
    {"bot/a.py": "from bot import b\n", "bot/b.py": "def f() -> None:\n    from bot import a\n"},
    {"bot/a.py": "import bot.b\n", "bot/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                              "    from .a import y\n"},
    {"bot/a.py": "from bot.b import x\n", "bot/b.py": "from bot.c import x\n", "bot/c.py": "from bot.a import x\n"},
])
def test_a_circle_is_found_however_its_imports_are_written(sources: dict[str, str]) -> None:
    assert check_sources({"bot/__init__.py": "", **sources}) == [sorted(m.removesuffix(".py").replace("/", ".")
                                                                        for m in sources)]


def test_a_package_that_imports_its_own_modules_is_no_circle() -> None:
    sources = {"bot/__init__.py": "from bot import a\n", "bot/a.py": "from bot.b import x\n", "bot/b.py": "x = 1\n"}
    assert check_sources(sources) == []
