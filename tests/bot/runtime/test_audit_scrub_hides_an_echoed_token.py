"""`backup-bot audit scrub`: entries written before PlanetScale's error text was scrubbed on the way in may hold the
service token a gateway echoed; the scrub rewrites them with the token hidden as the live path hides it (the
token's value, and anything shaped like a PlanetScale token, as `[redacted]`), in the trail's details and in the
requests' outcomes, and never shows the token. Before, nothing could hide them but a hand-written UPDATE."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_cli import run

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.runtime import audit_commands

TOKEN = "not-shaped-Secret-0123456789"  # the token in force, not of PlanetScale's own shape
EARLIER = "pscale_tkn_EarlierToken0123456789"  # a token used before it, of PlanetScale's shape
ECHOED = f"PlanetScale answered 422: bad header Authorization: tokenid:{TOKEN}"


def old_rows(url: str) -> str:
    """Entries as the bot wrote them before the scrub on the way in; the ID of a request failed so."""
    store = Store(url)
    store.migrate()
    # PlanetScale's words were cut to 300 characters before the token was hidden: a cut may end inside it.
    for detail in (ECHOED, f"held NUL \x00 and {TOKEN}", f"an earlier {EARLIER}.", "nothing secret",
                   f"cut: tokenid:{TOKEN[:15]}\u2069 (422)"):
        store.record(AuditEvent(action="failed", actor="U0ALICE001", organization="acme", database="app-db",
                                detail=detail))
    request = store.add_request(ChangeRequest(
        organization="acme", database="app-db", policy_id="bp01", policy_name="Production daily",
        requester="U0ALICE001", channel="C0DBAOPS01", before={"target": "production"},
        changes={"retention_value": 9}, approvals_needed=0, approvers=[], expires_at=0.0))
    store.transition(request.id, [RequestState.PENDING], RequestState.FAILED, detail=ECHOED)
    store.close()
    return request.id


def stored(url: str, request_id: str) -> tuple[list[str], str]:
    store = Store(url)
    try:
        request = store.get_request(request_id)
        assert request is not None
        return [e.detail or "" for e in store.events()], request.detail or ""
    finally:
        store.close()


def test_a_scrub_hides_the_token_in_old_entries_and_outcomes_and_never_shows_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    request_id = old_rows(store_url)
    monkeypatch.setenv("BACKUP_BOT_DATABASE_URL", store_url)
    monkeypatch.setenv("PLANETSCALE_SERVICE_TOKEN_ID", "tokenid")
    monkeypatch.setenv("PLANETSCALE_SERVICE_TOKEN", TOKEN)
    out = io.StringIO()
    assert audit_commands.main("scrub", {}, out=out) == 0
    said = out.getvalue() + capsys.readouterr().err
    assert TOKEN not in said and EARLIER not in said
    assert said.startswith("Hid the service token in 5 stored texts (4 audit entries, 1 request's outcome)."), said
    details, outcome = stored(store_url, request_id)
    assert details == ["PlanetScale answered 422: bad header Authorization: tokenid:[redacted]",
                       "held NUL \x00 and [redacted]", "an earlier [redacted].", "nothing secret",
                       "cut: tokenid:[redacted]\u2069 (422)"]
    assert outcome == "PlanetScale answered 422: bad header Authorization: tokenid:[redacted]"
    again = io.StringIO()
    assert audit_commands.main("scrub", {}, out=again) == 0
    assert again.getvalue().startswith("Hid the service token in 0 stored texts"), again.getvalue()


def test_the_command_line_scrubs_and_says_when_no_token_is_set(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    request_id = old_rows(url)
    without = run(["audit", "scrub"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert without.returncode == 0, without.stderr
    assert "PLANETSCALE_SERVICE_TOKEN is not set" in without.stdout, without.stdout
    assert stored(url, request_id)[0][2] == "an earlier [redacted].", "the shape is hidden without the token"
    done = run(["audit", "scrub"], tmp_path, BACKUP_BOT_DATABASE_URL=url, PLANETSCALE_SERVICE_TOKEN=TOKEN,
               PLANETSCALE_SERVICE_TOKEN_ID="tokenid")
    assert done.returncode == 0 and TOKEN not in done.stdout + done.stderr, done.stderr
    assert done.stdout.startswith("Hid the service token in 4 stored texts"), done.stdout
    assert all(TOKEN[:8] not in text for text in stored(url, request_id)[0])


@pytest.mark.parametrize("token", ["pscale_tkn_Secret0123456789", "deploy-key-Secret0123456789"])
def test_a_scrub_leaves_a_name_holding_the_tokens_first_characters(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str
) -> None:
    """A database named like the token's start (`pscale_test`, `deploy-keys`) is no cut token: its name stays."""
    monkeypatch.chdir(tmp_path)
    names = ["Backups of pscale_test/main failed (pscale_tkn_… is the token's shape)",
             f"Retention of {token[:8]}s changed", f"cut: tokenid:{token[:15]}"]
    store = Store(store_url)
    store.migrate()
    for detail in names:
        store.record(AuditEvent(action="failed", actor="U0ALICE001", organization="acme", database="app-db",
                                detail=detail))
    store.close()
    monkeypatch.setenv("BACKUP_BOT_DATABASE_URL", store_url)
    monkeypatch.setenv("PLANETSCALE_SERVICE_TOKEN_ID", "tokenid")
    monkeypatch.setenv("PLANETSCALE_SERVICE_TOKEN", token)
    out = io.StringIO()
    assert audit_commands.main("scrub", {}, out=out) == 0
    store = Store(store_url)
    try:
        details = [e.detail for e in store.events()]
    finally:
        store.close()
    assert details == [*names[:2], "cut: tokenid:[redacted]"], details
    assert out.getvalue().startswith("Hid the service token in 1 stored text (1 audit entry)."), out.getvalue()
