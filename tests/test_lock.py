"""requirements.lock, which the Dockerfile installs, pins every runtime dependency inside pyproject.toml's range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def locked() -> dict[str, tuple[str, list[str]]]:
    """Each locked package: its version and hashes."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, tuple[str, list[str]]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        found = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", entry)
        if found:
            pins[canonicalize_name(found[1])] = (found[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
    return pins


def test_every_runtime_dependency_is_locked_inside_its_range_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = locked()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run the command at its top"
        version, _ = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} is outside {requirement.specifier}"
    assert all(hashes for _, hashes in pins.values()), "every locked package carries its hashes"


def test_the_dockerfile_installs_the_lock_before_the_code_on_a_pinned_base() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+@sha256:[0-9a-f]{64}$", dockerfile, re.MULTILINE)
    lock = dockerfile.index("--require-hashes -r requirements.lock")
    assert lock < dockerfile.index("COPY bot ")
