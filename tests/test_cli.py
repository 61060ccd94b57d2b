"""The other processes of the contract: migrate, audit export and the emulator, run as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import httpx
import pytest
from conftest import Bot

from bot.adapters import migrations
from bot.adapters.store import Store
from bot.domain.audit import AuditEvent
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID
from bot.emulators.serving import free_port


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def test_migrate_then_export_the_audit_trail_as_jsonl_and_csv(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    done = run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert done.returncode == 0 and f"schema version {migrations.head()}" in done.stdout
    store = Store(url)
    for action in ("requested", "approved", "applied"):
        store.record(AuditEvent(action=action, actor="U0ALICE001", organization="acme", database="app-db",
                                policy_id="bp01", policy_name='Prod, "daily"', before={"retention_value": 2},
                                sent={"retention_value": 30}))
    store.close()
    jsonl = run(["audit", "export", "--format", "jsonl"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["action"] for r in rows] == ["requested", "approved", "applied"]
    assert rows[0]["sent"] == {"retention_value": 30} and rows[0]["policy_name"] == 'Prod, "daily"'
    out = tmp_path / "audit.csv"
    assert run(["audit", "export", "--format", "csv", "-o", str(out)], tmp_path,
               BACKUP_BOT_DATABASE_URL=url).returncode == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["action"] for r in table] == ["requested", "approved", "applied"]
    assert json.loads(table[2]["before"]) == {"retention_value": 2} and table[2]["policy_name"] == 'Prod, "daily"'


FORMULA = '=HYPERLINK("https://evil.example","click")'


def test_a_formula_typed_as_a_reason_is_exported_to_csv_as_text(bot: Bot, tmp_path: Path) -> None:
    typed = FORMULA.replace('"', '\\"')  # a quote inside a quoted value is written \"
    reply = bot.command(f'update acme/app-db bp03devday retention=5d reason="{typed}"')
    assert [e.kind for e in reply.public] == ["message"]  # applied: the reason is on the record
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    out = tmp_path / "audit.csv"
    assert run(["audit", "export", "--format", "csv", "-o", str(out)], tmp_path,
               BACKUP_BOT_DATABASE_URL=url).returncode == 0
    reasons = {r["reason"] for r in csv.DictReader(io.StringIO(out.read_text()))} - {""}
    assert reasons == {"'" + FORMULA}
    jsonl = run(["audit", "export"], tmp_path, BACKUP_BOT_DATABASE_URL=url).stdout
    assert {json.loads(line)["reason"] for line in jsonl.splitlines()} - {None} == {FORMULA}  # JSON is data


@pytest.mark.parametrize(("field", "value", "cell"), [
    ("reason", "=1+2", "'=1+2"), ("reason", "+1", "'+1"), ("reason", "-1", "'-1"),
    ("reason", "@SUM(A1)", "'@SUM(A1)"), ("reason", "\t=1", "'\\u0009=1"), ("reason", "\r=1", "'\\u000d=1"),
    ("policy_name", "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("detail", "PlanetScale said \x1b[31mno\x1b[0m", "PlanetScale said \\u001b[31mno\\u001b[0m"),
    ("reason", "C1 \x9b2J and bell \x07", "C1 \\u009b2J and bell \\u0007"),
    ("reason", "a - b = c", "a - b = c"),
    # A lone surrogate (JSON from PlanetScale can carry `"\ud800"`): CSV crashed on it where JSON lines escaped it.
    ("policy_name", "Nightly \ud800", "Nightly \\ud800"), ("reason", "\udfff=1", "\\udfff=1"),
    ("detail", "=\udc00", "'=\\udc00"),
])
def test_csv_cells_are_neither_formulas_nor_terminal_escapes(tmp_path: Path, field: str, value: str,
                                                              cell: str) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    # Recorded directly: rows written before the doors refused control characters, and PlanetScale's own words.
    store.record(AuditEvent(action="failed", actor="U0ALICE001", organization="acme", database="app-db",
                            **{field: value}))  # type: ignore[arg-type]
    store.close()
    out = tmp_path / "audit.csv"
    assert run(["audit", "export", "--format", "csv", "-o", str(out)], tmp_path,
               BACKUP_BOT_DATABASE_URL=url).returncode == 0
    with open(out, encoding="utf-8", newline="") as exported:
        raw = exported.read()
    assert not any(unicodedata.category(ch) == "Cc" for ch in raw.replace("\r\n", ""))
    [row] = csv.DictReader(io.StringIO(raw))
    assert row[field] == cell
    jsonl = run(["audit", "export"], tmp_path, BACKUP_BOT_DATABASE_URL=url).stdout
    assert not any(unicodedata.category(ch) == "Cc" for ch in jsonl.replace("\n", ""))
    assert json.loads(jsonl)[field] == value


def test_an_unusable_database_is_one_line(tmp_path: Path) -> None:
    done = run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert done.returncode == 2 and done.stderr.startswith("backup-bot: BACKUP_BOT_DATABASE_URL cannot be used")
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_emulator_serves_the_demo_organization_with_its_token(tmp_path: Path) -> None:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    process = subprocess.Popen([sys.executable, "-m", "bot", "emulator", "--port", str(port)], cwd=tmp_path,
                               env=base, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1/organizations/acme/databases/app-db/backup-policies"
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": f"{DEMO_TOKEN_ID}:{DEMO_TOKEN}"}, timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        assert answer.status_code == 200 and len(answer.json()["data"]) == 3
        assert httpx.get(url, timeout=10).status_code == 401
    finally:
        process.terminate()
        banner = process.communicate(timeout=10)[0]
    assert f"PLANETSCALE_SERVICE_TOKEN_ID={DEMO_TOKEN_ID}" in banner


ROOT = Path(__file__).resolve().parents[1]


def test_init_writes_the_starting_files_never_overwriting_and_says_what_next(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / ".env").write_text("SLACK_BOT_TOKEN=xoxb-mine\n")
    done = run(["init", "site"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / ".env").read_text() == "SLACK_BOT_TOKEN=xoxb-mine\n"
    assert "kept    site/.env (it exists; nothing written)" in done.stdout
    assert "wrote   site/access.toml" in done.stdout and "wrote   site/manifest.yml" in done.stdout
    assert (tmp_path / "site" / "access.toml").read_text() == (ROOT / "access.example.toml").read_text()
    assert (tmp_path / "site" / "manifest.yml").read_text() == (ROOT / "manifest.yml").read_text()
    assert "Fill in site/.env" in done.stdout and "backup-bot doctor" in done.stdout
    fresh = run(["init"], tmp_path / "site" / "..")
    assert (tmp_path / ".env").read_text() == (ROOT / ".env.example").read_text()
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0, "the .env that will hold secrets is the owner's alone"
    assert fresh.returncode == 0


def test_the_packaged_starters_are_the_repository_examples() -> None:
    starter = ROOT / "bot" / "starter"
    assert (starter / "access.toml").read_text() == (ROOT / "access.example.toml").read_text()
    assert (starter / "env").read_text() == (ROOT / ".env.example").read_text()
    assert (starter / "manifest.yml").read_text() == (ROOT / "manifest.yml").read_text()


def test_version_license_and_what_the_wheel_carries(tmp_path: Path) -> None:
    import tomllib
    from importlib.metadata import version

    done = run(["--version"], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"backup-bot {version('backup-policy-bot')}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()
    packaged = project["tool"]["setuptools"]["package-data"]["bot"]
    assert "starter/*" in packaged
    # Alembic reads the revisions as files: versions/ is no package, so only package data puts them in the wheel.
    assert "adapters/migrations/versions/*.py" in packaged
    assert not (ROOT / "bot" / "adapters" / "migrations" / "versions" / "__init__.py").exists()
    # The OpenAPI extract only the tests read lives beside them, outside every package of the wheel.
    assert not list((ROOT / "bot").rglob("*.yaml")) and (ROOT / "tests" / "planetscale-openapi.yaml").exists()


def test_make_demo_installs_the_runtime_alone_and_make_test_adds_the_dev_extras() -> None:
    def planned(target: str) -> str:
        done = subprocess.run(["make", "-n", "-W", "pyproject.toml", target], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    demo = planned("demo")
    assert "pip install --quiet --disable-pip-version-check -e . " in demo and "[dev]" not in demo
    assert "backup-bot console --demo" in demo
    assert "-e '.[dev]'" in planned("test")


def old_trail(url: str) -> dict[str, str]:
    """Entries of 2025 and 2026 for two databases and two people; one open request and one ended, both old."""
    from bot.domain.change_requests import ChangeRequest, RequestState

    store = Store(url)
    store.migrate()
    requests = {}
    for name, state in (("open", RequestState.PENDING), ("ended", RequestState.APPLIED)):
        request = store.add_request(ChangeRequest(
            organization="acme", database="app-db", policy_id="bp01", policy_name="Production daily",
            requester="U0ALICE001", channel="C0DBAOPS01", before={"target": "production"},
            changes={"retention_value": 9}, approvals_needed=1, approvers=["@dba-leads"], expires_at=0.0))
        if state is not RequestState.PENDING:
            store.transition(request.id, [RequestState.PENDING], state)
        requests[name] = request.id
    for at, actor, database, request in (
        ("2025-01-10T00:00:00Z", "U0ALICE001", "app-db", requests["open"]),
        ("2025-01-11T00:00:00Z", "U0BOB00001", "app-db", requests["ended"]),
        ("2025-02-01T00:00:00Z", "U0ALICE001", "billing-db", None),
        ("2026-06-01T00:00:00Z", "U0BOB00001", "app-db", None),
    ):
        store.record(AuditEvent(action="requested", actor=actor, organization="acme", database=database,
                                request_id=request, at=at))
    store.close()
    return requests


def test_audit_export_filters_by_time_database_and_person(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    old_trail(url)

    def exported(*args: str) -> list[str]:
        done = run(["audit", "export", *args], tmp_path, BACKUP_BOT_DATABASE_URL=url)
        assert done.returncode == 0, done.stderr
        return [json.loads(line)["at"][:10] for line in done.stdout.splitlines()
                if json.loads(line)["actor"] != "backup-bot"]

    everything = exported()
    assert "2025-01-10" in everything and "2026-06-01" in everything
    assert exported("--since", "2025-01-11", "--until", "2025-06-01T00:00:00+00:00") == ["2025-01-11", "2025-02-01"]
    assert exported("--db", "acme/billing-db") == ["2025-02-01"]
    assert exported("--actor", "U0BOB00001", "--since", "2025-01-01") == ["2025-01-11", "2026-06-01"]
    assert exported("--since", "2d", "--db", "acme/app-db", "--actor", "U0ALICE001") == []
    # A range that holds no time at all says so, rather than exporting nothing as if the trail were empty there.
    swapped = run(["audit", "export", "--since", "2025-06-01", "--until", "2025-01-11"], tmp_path,
                  BACKUP_BOT_DATABASE_URL=url)
    assert swapped.returncode == 2 and swapped.stdout == "", swapped.stdout
    assert "--since 2025-06-01 is not before --until 2025-01-11" in swapped.stderr, swapped.stderr
    bad = run(["audit", "export", "--since", "last tuesday"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("backup-bot: `last tuesday` is not a time: write a date (2026-01-31), a UTC time "
                                  "(2026-01-31T12:00:00Z) or an age back from now (30d, 12h)")


def test_audit_prune_deletes_old_entries_but_never_those_of_an_open_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    requests = old_trail(url)
    done = run(["audit", "prune", "--before", "400d"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Deleted 2 audit entries older than ")
    assert lines[1].startswith("Kept 1 older entry of requests still open")
    store = Store(url)
    left = [(e.at[:10], e.request_id) for e in store.events(until="2026-01-01T00:00:00Z")]
    store.close()
    assert left == [("2025-01-10", requests["open"])]
    bad = run(["audit", "prune", "--before", "soon"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert bad.returncode == 2 and "`soon` is not an age: write e.g. 12h, 30d, 8w or 1y" in bad.stderr


def test_audit_export_reads_the_trail_in_batches_whatever_its_length(tmp_path: Path) -> None:
    """20,000 entries of a kilobyte each (20 MB and more held at once) are read holding a few batches at most."""
    import tracemalloc

    from bot.adapters.schema import INSERT_EVENT

    store = Store(f"sqlite:///{tmp_path / 'long.db'}")
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, [{"at": "2026-01-01T00:00:00Z", "action": "applied", "actor": "U0ALICE001",
                                     "organization": "acme", "database": "app-db", "reason": f"{n:05d}" + "r" * 1000}
                                    for n in range(20000)])
    list(store.events(until="2000"))  # SQLAlchemy's caches warmed, as after the first query of a process
    tracemalloc.start()
    count = sum(1 for _ in store.events(batch=200))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    store.close()
    assert count == 20000
    assert peak < 5_000_000, f"{peak} bytes held while reading the trail"


def test_the_export_names_people_plainly_in_new_entries_and_old_ones(bot: Bot, tmp_path: Path) -> None:
    # A change applied at once by Alice, then entries as older versions wrote them, with Slack's mentions.
    bot.command("update acme/app-db bp03devday retention=5d")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.record(AuditEvent(action="applied", actor="U0ALICE001", organization="acme", database="app-db",
                            detail="approved by <@U0CAROL001>", reason="revert of the change requested by "
                            "<@U0BOB00001>"))
    store.record(AuditEvent(action="refused", actor="U0DAVE0001", organization="acme", database="app-db",
                            detail="only its approvers (<!subteam^S0DBALEAD1|@dba-leads>) in <#C0DBAOPS01>"))
    store.close()
    jsonl = run(["audit", "export"], tmp_path, BACKUP_BOT_DATABASE_URL=url).stdout
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert "<" not in jsonl
    assert rows[-2]["detail"] == "approved by @U0CAROL001"
    assert rows[-2]["reason"] == "revert of the change requested by @U0BOB00001"
    assert rows[-1]["detail"] == "only its approvers (@S0DBALEAD1) in #C0DBAOPS01"


def test_every_command_and_option_of_backup_bot_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for words in ("backup-bot serve", "--host", "--port", "$PORT", "backup-bot socket", "backup-bot console",
                  "backup-bot emulator", "backup-bot doctor", "backup-bot init", "backup-bot --version",
                  "backup-bot audit export", "--since WHEN", "--until WHEN", "--db ORG/DB", "--actor USER",
                  "--format jsonl|csv", "backup-bot audit prune --before", "GET /healthz", "GET /metrics",
                  "python -m bot", "/slack/events"):
        assert words in readme, words


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_a_time_whose_offset_leaves_the_calendar_is_answered_in_words(tmp_path: Path, flag: str, when: str) -> None:
    """A well-formed ISO 8601 time whose offset moves it past year 9999 (or before year 1) in UTC: entry_time's
    astimezone raised OverflowError, so the export ended in a traceback (exit 1) rather than a usage answer."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    assert run(["migrate"], tmp_path, BACKUP_BOT_DATABASE_URL=url).returncode == 0
    done = run(["audit", "export", flag, when], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2 and done.stderr.startswith(f"backup-bot: `{when}`"), done.stderr
