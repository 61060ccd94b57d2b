"""`backup-bot init [DIR]`: the starting files a package install lacks, never overwriting one that exists."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import TextIO

# (file written, the packaged starter it comes from)
STARTERS = (("access.toml", "access.toml"), (".env", "env"), ("manifest.yml", "manifest.yml"))

NEXT_STEPS = """\
Next:
  1. Create the Slack app: https://api.slack.com/apps → Create New App → From an app manifest, paste
     {manifest} (replace YOUR-HOST with the public host of `backup-bot serve`, or turn Socket Mode on
     and run `backup-bot socket`), install it to the workspace.
  2. Fill in {env}: SLACK_BOT_TOKEN (OAuth & Permissions → Bot User OAuth Token), SLACK_SIGNING_SECRET (Basic
     Information → App Credentials), PLANETSCALE_SERVICE_TOKEN_ID and PLANETSCALE_SERVICE_TOKEN (a service token
     with read_backups, write_backups and read_branch), BACKUP_BOT_AUDIT_CHANNEL (a channel ID for applied
     changes and the watch's reports).
  3. Edit {access}: your organization and databases, editors and approvers (Slack user IDs or @groups), channel
     IDs.
  4. Run `backup-bot doctor` in {where} until it finds nothing, then `backup-bot serve` there.
  Trying it first? `backup-bot console --demo` needs none of this; `backup-bot emulator --slack-port 8901`
  prints settings for .env that let doctor and serve run against bundled emulators of Slack and PlanetScale."""


def write_starters(directory: str, out: TextIO, err: TextIO | None = None) -> int:
    """0 once every file is written or kept; 2, with one line on `err` naming the file and the reason, when one
    cannot be written whole (nothing of it is left: the next `init` would keep it as the user's own)."""
    err = err or sys.stderr
    target = Path(directory)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"backup-bot: {target} cannot be made a folder for the starting files ({exc.strerror or exc}); name "
              "a folder, or a path where one can be made.", file=err)
        return 2
    packaged = resources.files("bot") / "starter"
    for name, source in STARTERS:
        path = target / name
        opened = False
        try:
            # "x": never overwrite, even a file made since this started; .env will hold secrets
            with open(path, "x", encoding="utf-8", opener=_private if name == ".env" else None) as file:
                opened = True
                file.write(packaged.joinpath(source).read_text(encoding="utf-8"))
        except FileExistsError:
            print(f"kept    {path} (it exists; nothing written)", file=out)
            continue
        except OSError as exc:
            if opened:  # made here, by this run: a part of it must not pass for the user's own
                path.unlink(missing_ok=True)
            print(f"backup-bot: {path} could not be written ({exc.strerror or exc}); nothing of it was kept. Make "
                  "room, or name another folder, and run init again.", file=err)
            return 2
        print(f"wrote   {path}", file=out)
    print(NEXT_STEPS.format(manifest=target / "manifest.yml", env=target / ".env", access=target / "access.toml",
                            where=target), file=out)
    return 0


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
