"""`backup-bot console` from a pipe, as a newcomer runs `make demo`: the real process, on the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_console(lines: list[str], tmp_path: Path, *flags: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "console", *flags], input="\n".join(lines) + "\n",
                          text=True, capture_output=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_and_list_on_the_bundled_emulator(tmp_path: Path) -> None:
    out = run_console(["/backup-policy help", "/backup-policy list acme/app-db"], tmp_path)
    assert "update <org>/<database> <policy> key=value" in out
    for name in ("Production daily", "Production weekly", "Development daily"):
        assert name in out
    assert "every 12 hours at 09:10 UTC, kept 2 days" in out


def test_an_update_is_posted_to_the_channel_and_users_can_switch(tmp_path: Path) -> None:
    out = run_console([
        '/backup-policy update acme/app-db "Development daily" retention=30d reason="more history"',
        "as bob",
        "/backup-policy show acme/app-db bp03devday",
        "/backup-policy update acme/app-db bp03devday retention=5m",
        "as nobody",
        "in #random",
    ], tmp_path)
    assert "[#db-ops] backup-bot:" in out and "@alice changed the backup policy Development daily" in out
    assert "3 days → 30 days" in out and "more history" in out
    assert "You are now bob" in out and "every day at 04:30 UTC, kept 30 days" in out
    assert "`m` is ambiguous" in out
    assert "No user `nobody`" in out and "You are now in #random" in out


def test_an_approval_by_another_demo_user_through_the_buttons(tmp_path: Path) -> None:
    out = run_console([
        '/backup-policy update acme/app-db "Production daily" retention=7d reason="cost review"',
        "click 1",
        "as carol",
        "click 1",
        "/backup-policy history acme/app-db",
        "as bob",
        "click 99",
    ], tmp_path)
    assert "@alice asks to change the backup policy Production daily" in out
    assert "[1] Approve   [2] Reject   [3] Cancel" in out and "may approve: @dba-leads" in out
    assert "Nobody approves or rejects their own request" in out
    assert "backup-bot (edited):" in out and "@alice changed the backup policy Production daily" in out
    assert "approved by @carol" in out and "Revert" in out
    assert "No button [99]" in out


def test_the_edit_modal_is_a_form_that_validates_and_applies(tmp_path: Path) -> None:
    out = run_console([
        '/backup-policy edit acme/app-db "Development daily"',
        "set retention_value -3",
        "submit",
        "set retention_value 14",
        "set frequency_unit week",
        "set schedule_day 1",
        "submit",
        "submit",
    ], tmp_path)
    assert "[form] Edit Development daily" in out and "Keep backups for: 3" in out
    assert "⚠ Keep backups for: -3 is less than 1, the least it takes; not set." in out
    assert "Day of the week: —" in out  # appeared when the unit became weekly
    assert "[form] Confirm the change" in out and "day: — → Monday" in out
    assert "@alice changed the backup policy Development daily" in out
    assert "✅ Applied: the result is posted in the channel." in out


def test_carol_approves_on_her_home_and_the_thread_shows_each_step(tmp_path: Path) -> None:
    out = run_console([
        '/backup-policy update acme/app-db "Production daily" retention=7d reason="cost review"',
        "as carol",
        "home",
        "click 4",
        "as alice",
        "home",
    ], tmp_path)
    assert "[home of carol] backup-bot:" in out and "WAITING FOR YOUR APPROVAL" in out
    assert "[4] Approve   [5] Reject" in out
    assert "[#db-ops thread] ↳ backup-bot:\n  ✅ Applied to PlanetScale, approved by @carol." in out
    assert "approved (1 of 1)" not in out  # one reply says both
    assert "Applied." in out.split("[home of carol]")[-1]
    assert "LATEST CHANGES YOU MAY SEE" in out and "@alice changed Production daily" in out


def test_the_demo_shows_drift_a_guardrail_refusal_and_a_failed_backup(tmp_path: Path) -> None:
    out = run_console([
        "watch",
        "/backup-policy update acme/app-db bp01prod12h retention=1d",
        "dashboard acme/app-db bp01prod12h retention_value=1",
        "fail-backup acme/app-db bp03devday",
        "watch",
        "watch",
        "[1]",
        "as carol",
        "[2]",
        "dashboard acme/app-db nosuch retention_value=1",
        "dashboard acme/app-db bp01prod12h retention_unit=fortnight",
    ], tmp_path)
    assert "nothing new" in out
    assert "the guardrails refuse this change" in out
    assert out.count("Changed outside the bot: the backup policy Production daily of acme/app-db") == 1
    assert "retention: 2 days → 1 day" in out and "Breaks: guardrail 1" in out
    assert out.count("Backups in trouble: the backup policy Development daily") == 1
    assert "revert of a change made outside the bot" in out
    assert "@alice changed the backup policy Production daily" in out and "1 day → 2 days" in out
    assert "No policy `nosuch` in acme/app-db" in out and "The dashboard refuses that" in out


def test_the_demo_stays_on_the_emulators_with_env_example_copied_and_says_so(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    out = run_console(["/backup-policy list acme/app-db"], tmp_path, "--demo")
    first = out.splitlines()[0]
    assert first.startswith("backup-bot console: Slack is the bundled Slack emulator (http://127.0.0.1:"), first
    assert "the bundled PlanetScale emulator (organization acme, database app-db)" in first
    assert "Production daily" in out and "Could not reach PlanetScale" not in out


def test_without_demo_a_placeholder_token_is_named_not_tried(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANETSCALE_", "SLACK_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "console"], input="", text=True, capture_output=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 2
    assert "backup-bot: PLANETSCALE_SERVICE_TOKEN is still the placeholder from .env.example" in done.stderr


def readme_examples() -> list[str]:
    """Every whole slash command the README shows as one to type: in backticks or alone on a line of a code block."""
    import re

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    examples = re.findall(r"`(/backup-policy [^`<…]+)`", text)
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        examples += [line.strip() for line in block.splitlines() if line.strip().startswith("/backup-policy ")]
    return examples


FAILURE_MARKS = ("⚠", "Nothing was sent to PlanetScale:", "Unknown", "Could not", "needs a database", "not allowed",
                 "may not", "No policy")


def test_every_example_of_help_and_the_readme_works_on_the_demo(tmp_path: Path) -> None:
    from bot.domain.grammar import EXAMPLES

    examples = list(dict.fromkeys([*EXAMPLES, *readme_examples()]))
    assert len(examples) >= 6
    out = run_console(examples, tmp_path, "--demo")
    answers = out.split("\nalice> ")[1:]
    assert len(answers) == len(examples), out
    for example, answer in zip(examples, answers, strict=True):
        assert answer.startswith(example), answer
        assert not any(mark in answer for mark in FAILURE_MARKS), answer


def test_show_and_status_agree_that_the_demo_policies_have_run(tmp_path: Path) -> None:
    import re

    out = run_console(['/backup-policy show acme/app-db "Production daily"', "/backup-policy status acme/app-db"],
                      tmp_path, "--demo")
    assert "Last ran: never" not in out
    [ran] = re.findall(r"Last ran: (\w{3} \d\d \w{3} \d{4} \d\d:\d\d) UTC", out)
    [success] = re.findall(r"Production daily `bp01prod12h` \(production\)\n  Last success: (\w{3} \d\d \w{3} \d{4} "
                           r"\d\d:\d\d) UTC", out)
    from datetime import datetime, timedelta

    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%a %d %b %Y %H:%M")

    # It ran when its latest backup started, and that backup succeeded when it completed, minutes later.
    assert timedelta(0) <= parse(success) - parse(ran) <= timedelta(hours=1), (ran, success)


def test_dms_wait_for_their_reader_old_buttons_say_they_have_gone_set_checks_and_mentions_are_names(
    tmp_path: Path
) -> None:
    out = run_console([
        '/backup-policy update acme/app-db "Production daily" retention=7d reason="cost review"',
        "as carol",
        "click 1",  # approves: alice is told in a direct message while carol is at the keyboard
        "as alice",
        "click 1",  # Approve was on the message before it changed
        "click 5",  # Revert, on the message as it is now
        "/backup-policy edit acme/app-db bp03devday",
        "set retention_value abc",
        "set retention_unit fortnight",
        "set retention_value 5",
    ], tmp_path, "--demo")
    as_carol, _, as_alice = out.partition("You are now alice")
    assert "[DM to alice]" not in as_carol
    assert as_alice.split("\n", 2)[1].startswith("[DM to alice] backup-bot:"), as_alice[:300]
    assert "Button [1] has gone: the message it was on has changed since" in out
    assert "(Revert this change? Put Production daily back as it was: retention 7 days → 2 days." in out
    assert "⚠ Keep backups for: `abc` is not a whole number; not set." in out
    assert "⚠ Retention unit: `fortnight` is not one of hour, day, week, month, year; not set." in out
    assert "Keep backups for: 5" in out
    assert "<@" not in out and "<!subteam" not in out and "<#" not in out
    assert "@alice changed the backup policy" in out and "may approve: @dba-leads" in out


def test_the_readme_bulk_change_is_approved_once_and_applied_to_both_demo_databases(tmp_path: Path) -> None:
    out = run_console(['/backup-policy update acme/* "Production daily" retention=3d reason="audit asks 3 days"',
                       "as carol", "[1]"], tmp_path, "--demo")
    assert "asks to change 2 backup policies of acme" in out
    assert "Applied to 2 of 2 in 2 databases" in out
    assert "`app-db` Production daily: ✅ applied" in out and "`billing-db` Production daily: ✅ applied" in out


def test_code_in_a_message_keeps_its_stars_as_slack_shows_it(tmp_path: Path) -> None:
    """Slack formats nothing inside code: the console shows `acme/* *` as typed, not as bold text without stars."""
    out = run_console(["/backup-policy update acme/* * --where target=production retention=3d --dry-run",
                       "/backup-policy update acme/* retention=3d"], tmp_path)
    assert "`acme/* * where target=production`" in out
    assert "`/backup-policy update acme/* * retention=30d`" in out


def test_a_name_with_markup_is_shown_as_written_with_no_invisible_marks(tmp_path: Path) -> None:
    name = "Prod*_~<!channel> @U0EVIL0001 _x_"
    out = run_console([
        f'/backup-policy update acme/app-db "Production daily" name="{name}" reason="x"',
        f'/backup-policy update acme/app-db bp03devday name="{name}" reason="y"',
        "as carol",
        "click 1",  # refused: the name was taken meanwhile, told in the domain's words
        "/backup-policy history acme/app-db",
    ], tmp_path)
    assert not any(mark in out for mark in "\u2066\u2067\u2068\u2069"), out
    taken = f"app-db already has a policy named “{name}” (`bp03devday`)"
    assert out.count(taken) >= 3, out  # the request's message, the thread, the answer, history
    assert f"name Production daily → {name} (the change no longer holds" in out, out
