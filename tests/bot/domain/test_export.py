"""The export's code on its own: HCL strings that hold any text exactly (held against python-hcl2 and HCL's string
rules, and against Terraform itself where it is installed), labels Terraform accepts, JSON that stays JSON, pieces
that fit, and one database failing never stopping the rest."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import hcl2
import pytest
from export_code import hcl_literal, parsed_imports, parsed_resources
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.commands import DatabaseRef
from bot.domain.export import (
    ExportedDatabase,
    chunks,
    collect,
    hcl_string,
    json_safe,
    label_for,
    terraform_keeps,
    terraform_units,
)
from bot.domain.policy import BackupPolicy
from bot.domain.ports import Unavailable

DB = DatabaseRef("acme", "app-db")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
NASTY = ['a "q" \\ ${x} %{y} `x` é\u202e\u0301', "$${x}", "$$${", "%%{", "$", "%", "${", "%{", "x\\${y}", "\\",
         '\\"', "a\nb\r\tc\x00\x1b[31m", "\u2028\u2029\ufeff\u200b", "😀𝔘", "\u0301x", "\U000e0001", "${~",
         "%{~ if", 'a"${b}"c', "$$", "%%", "x$", "\x7f\x85", "```", "<!channel> &amp;", "}\n}\nresource"]


def policy(name: str, policy_id: str = "bp1", **values: object) -> BackupPolicy:
    fields: dict[str, object] = {
        "id": policy_id, "display_name": f"Backup policy {name}", "name": name, "target": "production",
        "retention_value": 2, "retention_unit": "day", "frequency_value": 12, "frequency_unit": "hour",
        "schedule_time": "09:10", "schedule_day": None, "schedule_week": None, "created_at": "2021-01-14T10:19:23Z",
        "updated_at": "2021-01-14T10:19:23Z", "last_ran_at": None, "next_run_at": None, "required": False}
    fields.update(values)
    return BackupPolicy.model_validate(fields)


@settings(deadline=None)  # python-hcl2 builds its parser on first use
@given(st.text())
def test_an_hcl_string_holds_any_text_exactly(text: str) -> None:
    parsed = hcl2.loads(f"value = {hcl_string(text)}\n")
    assert hcl_literal(parsed["value"]) == text


@pytest.mark.parametrize("text", NASTY)
def test_names_that_break_naive_hcl_stay_one_plain_string(text: str) -> None:
    written = hcl_string(text)
    assert "\n" not in written and "`" not in written
    assert hcl_literal(hcl2.loads(f"value = {written}\n")["value"]) == text


@given(st.text())
def test_json_made_safe_is_the_same_json(text: str) -> None:
    dumped = json.dumps({"name": text}, ensure_ascii=False)
    safe = json_safe(dumped)
    assert json.loads(safe) == {"name": text}
    assert "`" not in safe and all(ch == "\n" or ch.isprintable() for ch in safe)


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30))
def test_labels_are_identifiers_and_unique(names: list[str]) -> None:
    taken: set[str] = set()
    labels = [label_for(DB, f"bp{i}", taken) for i, _ in enumerate(names)]
    assert all(IDENTIFIER.fullmatch(label) for label in labels)
    assert len(set(labels)) == len(labels)


@settings(deadline=None)
@given(st.lists(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=255), min_size=1,
                max_size=6))
def test_the_terraform_parses_and_round_trips_each_policy(names: list[str]) -> None:
    policies = tuple(policy(n, f"bp{i}", schedule_day=i % 7, frequency_unit="week", frequency_value=1)
                     for i, n in enumerate(names))
    code = "\n\n".join(terraform_units([ExportedDatabase(DB, "postgresql", policies)]))
    resources = parsed_resources(code)
    assert [(t, a["name"], a["schedule_day"]) for t, _, a in resources] == [
        ("planetscale_postgres_backup_policy", p.name, p.schedule_day) for p in policies]
    assert [i["id"] for _, i in parsed_imports(code)] == [p.id for p in policies]


@settings(deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=255),
       st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=255))
def test_a_renamed_policy_keeps_its_label_and_its_name_is_a_comment_that_stays_one(before: str, after: str) -> None:
    """The label is the database's and the ID's: a rename in PlanetScale moves nothing (a moved label is a destroy
    in `terraform plan`). The name is a comment line above the resource that no name ends early."""
    codes = ["\n\n".join(terraform_units([ExportedDatabase(DB, "mysql", (policy(n, "bp01prod12h"),))]))
             for n in (before, after)]
    assert [label for code in codes for _, label, _ in parsed_resources(code)] == ["app_db__bp01prod12h"] * 2
    for name, code in zip((before, after), codes, strict=True):
        comment = code.split("\n")[code.split("\n").index('resource "planetscale_vitess_backup_policy" '
                                                             '"app_db__bp01prod12h" {') - 1]
        assert comment.startswith("# ") and "`" not in comment and comment.isprintable()
        assert hcl_literal(f'"{comment[2:]}"') == name


@pytest.mark.parametrize("name", NASTY)
def test_a_name_that_breaks_naive_hcl_stays_inside_its_comment(name: str) -> None:
    code = "\n\n".join(terraform_units([ExportedDatabase(DB, "mysql", (policy(name, "bp1"), policy("x", "bp2")))]))
    assert [(label, a["name"]) for _, label, a in parsed_resources(code)] == [
        ("app_db__bp1", name), ("app_db__bp2", "x")]
    assert sum(line.startswith("#") for line in code.split("\n")) == 5 and "`" not in code  # 3 headings, 2 names


def test_a_kind_without_a_terraform_resource_is_left_out_of_the_terraform() -> None:
    units = terraform_units([ExportedDatabase(DB, "cockroachdb", (policy("Nightly"),))])
    assert len(units) == 1 and "resource" not in units[0]


def test_names_terraform_would_normalise_are_told_apart() -> None:
    assert terraform_keeps("Sauvegarde été") and terraform_keeps("😀")
    assert not terraform_keeps("e\u0301t\u0065\u0301")  # decomposed: Terraform reads it as NFC
    assert not terraform_keeps("\ud800")


@given(st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=300), min_size=1, max_size=20),
       st.integers(min_value=20, max_value=400))
def test_pieces_fit_and_lose_nothing(units: list[str], limit: int) -> None:
    def measure(text: str) -> int:
        return len(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))

    pieces = chunks(units, limit, measure)
    assert all(measure(p) <= limit for p in pieces)
    assert "".join(pieces).replace("\n", "") == "".join(units).replace("\n", "")


class Source:
    def __init__(self, failing: str) -> None:
        self.failing = failing

    def list_databases(self, organization: str) -> list[str]:
        return ["b-db", "a-db", "hidden-db", "c-db"]

    def database_kind(self, organization: str, database: str) -> str:
        return "mysql"

    def list_policies(self, organization: str, database: str) -> list[BackupPolicy]:
        if database == self.failing:
            raise Unavailable(f"PlanetScale had an error (503) for {organization}/{database}.")
        return [policy("Prod", "bp1"), policy("Dev", "bp2", target="development")]


def test_one_database_failing_stops_none_of_the_others() -> None:
    export = collect(Source("b-db"), DatabaseRef("acme", "*"), lambda db: db.database != "hidden-db",
                     lambda db: {"production"})
    assert [d.db.database for d in export.databases] == ["a-db", "c-db"]
    assert [(f.db.database, f.message) for f in export.failed] == [
        ("b-db", "PlanetScale had an error (503) for acme/b-db.")]
    assert export.matched == 4 and export.hidden_databases == 1
    assert [[p.id for p in d.policies] for d in export.databases] == [["bp1"], ["bp1"]]  # hidden: absent


@pytest.mark.skipif(shutil.which("terraform") is None, reason="the terraform CLI is not installed here")
def test_terraform_itself_reads_each_string_as_the_text_and_the_export_as_formatted(tmp_path: Path) -> None:
    chooser = random.Random(24)
    names = NASTY + ["".join(chr(chooser.choice([chooser.randrange(32, 0x250), chooser.randrange(0, 0x3000),
                                                 chooser.randrange(0xE000, 0x10FFFF)]))
                             for _ in range(chooser.randrange(1, 40))) for _ in range(200)]
    names = [n for n in names if not any(0xD800 <= ord(c) <= 0xDFFF for c in n)]
    body = "output \"names\" {\n  value = [\n" + "".join(f"    {hcl_string(n)},\n" for n in names) + "  ]\n}\n"
    (tmp_path / "main.tf").write_text(body, encoding="utf-8")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    for command in (["init", "-input=false", "-backend=false"], ["apply", "-auto-approve", "-input=false"]):
        run = subprocess.run(["terraform", *command], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
    out = subprocess.run(["terraform", "output", "-json", "names"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert json.loads(out.stdout) == [unicodedata.normalize("NFC", n) for n in names]  # Terraform's strings: NFC
    code = "\n\n".join(terraform_units([ExportedDatabase(DB, "mysql", tuple(
        policy(n, f"bp{i}", schedule_day=0, schedule_week=1, frequency_unit="month", frequency_value=1,
               required=i % 3 == 0)
        for i, n in enumerate(names[:40])))]))
    fmt = subprocess.run(["terraform", "fmt", "-check", "-"], input=code + "\n", env=env, capture_output=True,
                         text=True, timeout=60)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_a_slow_planetscale_leaves_the_databases_not_started_in_time_unread() -> None:
    now = [0.0]

    class Slow(Source):
        def list_policies(self, organization: str, database: str) -> list[BackupPolicy]:
            now[0] += 25.0  # each database takes 25 s to read
            return super().list_policies(organization, database)

    export = collect(Slow(""), DatabaseRef("acme", "*"), lambda db: True, lambda db: {"production"}, within=40.0,
                     clock=lambda: now[0])
    assert [d.db.database for d in export.databases] == ["a-db", "b-db"]
    assert [db.database for db in export.unread] == ["c-db", "hidden-db"]


@given(st.lists(st.tuples(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=20)), min_size=1,
                max_size=12, unique_by=lambda p: p[1]),
       st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3, unique=True))
def test_a_label_is_the_policys_own_and_no_two_policies_share_one(
    policies: list[tuple[str, str]], databases: list[str]
) -> None:
    """Labelled alone (as an export cut in parts, or by someone who sees fewer, labels it), each policy gets the
    label it gets among all the others, and no two get the same."""
    found = [(database, policy(name, policy_id)) for database in databases for name, policy_id in policies]
    together: set[str] = set()
    labels = [label_for(DatabaseRef("acme", d), p.id, together) for d, p in found]
    assert labels == [label_for(DatabaseRef("acme", d), p.id, set()) for d, p in found]
    assert len(set(labels)) == len(labels) and all(IDENTIFIER.fullmatch(label) for label in labels)
