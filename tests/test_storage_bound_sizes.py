"""A `max_storage` guardrail must bound something a backup can take: a fraction of a byte (`0.4B` read as 0 bytes)
or no storage at all would refuse every change the guardrail covers. Refused when the access file is loaded, by
`doctor` as by `serve`, in words naming the fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from processes import access_rules, serve_env

from bot.domain.access_file import AccessFile, AccessFileError
from bot.domain.costs import parse_size

SIZES = [
    ("0.4B", "`0.4B` is less than one byte: write a size of at least 1B"),
    ("0.0001KB", "`0.0001KB` is less than one byte"),
    ("0TB", "`0TB` allows no storage at all, so every change would be refused: write a size above zero"),
    ("0 B", "`0 B` allows no storage at all"),
    ("1.5B", "`1.5B` is 1.5 bytes, a fraction of a byte: write a whole number of bytes, e.g. 1B"),
    ("1.0005KB", "`1.0005KB` is 1000.5 bytes, a fraction of a byte"),
]


def guarded(size: str) -> str:
    return access_rules(0) + f'\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\nmax_storage = "{size}"\n'


@pytest.mark.parametrize(("size", "reason"), SIZES)
def test_a_size_below_a_byte_zero_or_with_a_fraction_of_a_byte_is_refused_at_load(
        tmp_path: Path, size: str, reason: str) -> None:
    path = tmp_path / "access.toml"
    path.write_text(guarded(size))
    with pytest.raises(AccessFileError, match=re.escape(reason)):
        AccessFile(str(path))


def test_sizes_are_counted_exactly_in_bytes() -> None:
    assert parse_size("0.1KB") == 100  # not 100.00000000000001 read down to 100 by chance
    assert parse_size("1.5TiB") == 3 * 2**39
    assert parse_size("1B") == 1
    assert parse_size("2 TB") == 2 * 10**12


@pytest.mark.parametrize("size", ["0.4B", "0TB"])
def test_doctor_refuses_such_a_guardrail_naming_the_fix(
        slack_server: Any, planetscale_server: Any, tmp_path: Path, size: str) -> None:
    (tmp_path / "access.toml").write_text(guarded(size))
    (tmp_path / ".env").write_text("BACKUP_BOT_ACCESS_FILE=access.toml\n")
    done = subprocess.run([sys.executable, "-m", "bot", "doctor"],
                          env=serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    said = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in said, said[-2000:]
    assert f"max_storage: `{size}`" in said and "write a size" in said, said[-2000:]


def test_a_size_past_what_decimal_counts_is_too_large_not_a_crash() -> None:
    with pytest.raises(ValueError, match="is too large: at most"):
        parse_size("9" * 1_000_001 + "TB")
