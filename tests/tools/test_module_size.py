"""The check in `make lint` that no module in bot/ or handlers/ is over 500 lines."""

from __future__ import annotations

from pathlib import Path

from tools.module_size import main, too_long


def test_no_module_in_bot_or_handlers_is_over_the_bound() -> None:
    assert too_long(["bot", "handlers"]) == []


def test_a_module_over_the_bound_is_named_and_fails(tmp_path: Path) -> None:
    (tmp_path / "short.py").write_text("x = 1\n" * 500)
    (tmp_path / "long.py").write_text("x = 1\n" * 501)
    assert too_long([str(tmp_path)]) == [(str(tmp_path / "long.py"), 501)]
    assert main([str(tmp_path)]) == 1
