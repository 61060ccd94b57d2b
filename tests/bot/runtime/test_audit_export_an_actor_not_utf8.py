"""`backup-bot audit export --actor` given bytes that are not UTF-8 (a terminal in another encoding): Python reads
them as lone surrogates, which the database driver could not send, and the export ended in a traceback. It is one
line naming `--actor` and what to write, exit status 2, as for every other mistake of the command's."""

from __future__ import annotations

from pathlib import Path

from test_cli import run

from bot.adapters.store import Store
from bot.domain.audit import AuditEvent


def test_an_actor_that_is_not_utf8_is_told_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = Store(url)
    store.migrate()
    store.record(AuditEvent(action="applied", actor="U0ALICE001", organization="acme", database="app-db"))
    store.close()
    done = run(["audit", "export", "--actor", "U0\udcff"], tmp_path, BACKUP_BOT_DATABASE_URL=url)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("backup-bot: --actor: ") and "U0ALICE001" in line, line
