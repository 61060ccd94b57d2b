"""A statement the database refuses raises an error whose text may reach a log: it names the statement, never the
values it carried (a request's body holds Slack's verification token; a change, what a person typed)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store

SECRET = "verification-token-5f3a9c"


def test_a_refused_statement_names_no_value_it_carried(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    try:
        with pytest.raises(sa.exc.DBAPIError) as refused, store.engine.begin() as conn:
            conn.execute(sa.text("insert into no_such_table (body) values (:body)"), {"body": SECRET})
        assert "no_such_table" in str(refused.value)
        assert SECRET not in str(refused.value), str(refused.value)
    finally:
        store.close()
