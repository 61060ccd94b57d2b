"""`backup-bot audit scrub`: the service token hidden in what the bot stored before PlanetScale's error text was
scrubbed on the way in (a gateway echoing the request's Authorization header into its error)."""

from __future__ import annotations

import re
from typing import TextIO

from bot.adapters.planetscale_answers import HIDDEN, TOKEN_SHAPE, without_token
from bot.runtime.settings import Settings, SettingsError

# How each table's texts are counted for the person.
KINDS = {"audit_events": ("audit entry", "audit entries"), "change_requests": ("request's outcome",
                                                                               "requests' outcomes"),
         "watch_notices": ("watch notice", "watch notices")}


# An entry written before the token was hidden had PlanetScale's words cut to their length first: a cut may end
# inside the token, whose first characters are hidden from this many on.
SHORTEST_PART = 8
# What every PlanetScale token starts with: its first characters up to here are no secret.
SHAPE_START = "pscale_tkn_"


def hidden(text: str, token: str) -> str:
    """`text` as the live path hides the token (`without_token`), and any of the token's first characters left by
    a cut: where no token character follows them (a name that starts as the token does goes on), and past the
    start all PlanetScale tokens share."""
    text = without_token(text, token)
    shortest = max(SHORTEST_PART, len(SHAPE_START) + 1 if token.startswith(SHAPE_START) else 0)
    for size in range(len(token) - 1, shortest - 1, -1):
        text = re.sub(re.escape(token[:size]) + r"(?![A-Za-z0-9_-])", HIDDEN, text)
    return text


def scrub(out: TextIO) -> int:
    """Hides the token as the live path does (`without_token`): its value where it is set, and anything shaped
    like a PlanetScale token; and its first characters where an old entry was cut. The token is never said."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    from bot.runtime.database import open_store, reason_of

    settings = Settings.load()
    token = settings.planetscale_token or ""
    marks = [token[:SHORTEST_PART]] if len(token) >= 6 else []
    store = open_store(settings.database_url)
    try:
        changed = store.scrub(lambda text: hidden(text, token), [*marks, TOKEN_SHAPE.pattern.split("[")[0]])
    except (SQLAlchemyError, sqlite3.Error) as exc:  # each table done before stays done
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL: the database failed during the scrub ({reason_of(exc)}): "
                            "scrub again once it answers.") from None
    finally:
        store.close()
    parts = [f"{count} {KINDS[table][count != 1]}" for table, count in changed.items() if count]
    total = sum(changed.values())
    print(f"Hid the service token in {total} stored text{'' if total == 1 else 's'}"
          f"{' (' + ', '.join(parts) + ')' if parts else ': none held it'}.", file=out)
    if not marks:
        print("PLANETSCALE_SERVICE_TOKEN is not set, so only texts shaped like a PlanetScale token (pscale_tkn_…) "
              "were looked for: set it (or PLANETSCALE_SERVICE_TOKEN_FILE) to the token, or to one used before, and "
              "scrub again.", file=out)
    return 0
