"""All storage: change requests, their approvals, and the audit trail, on SQLAlchemy Core.

SQLite by default, PostgreSQL for several instances. Every state change of a request is one conditional
UPDATE (`… WHERE id = ? AND state IN (…)`), so simultaneous clicks, Slack retries or two instances behind a
load balancer move a request once. Schema changes are Alembic revisions (bot/adapters/migrations/), run under
a lock at start and by `backup-bot migrate`.

`Store` is one object for its callers, made of one part per job, each in its own module: the connection and
the schema's version (`connection`), the audit trail (`audit`), requests and the policies' leases
(`requests`), open requests as people see them (`pending`), approvals (`approvals`), notices sent once about a
request (`notices`), Slack requests done once (`deliveries`), the watch's lease, last states seen and notices
(`watch`), and bulk changes (`batches`).
"""

from __future__ import annotations

from bot.adapters.store.approvals import Approvals
from bot.adapters.store.batches import Batches
from bot.adapters.store.connection import database_url
from bot.adapters.store.deliveries import Deliveries
from bot.adapters.store.notices import RequestNotices
from bot.adapters.store.pending import OpenRequests
from bot.adapters.store.requests import Requests
from bot.adapters.store.watch import WatchState

__all__ = ["Store", "database_url"]


class Store(Requests, OpenRequests, Approvals, RequestNotices, Deliveries, WatchState, Batches):
    """The database. Its engine (and SQLAlchemy) is made on first use; `ready` gates every use until the
    schema is known to be current, for a server that migrates after it has started listening."""
