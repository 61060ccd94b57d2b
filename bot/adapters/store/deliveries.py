"""Requests from Slack done once: a retry or a replay, on any instance, finds its key taken."""

from __future__ import annotations

from bot.adapters.store.connection import Connected


class Deliveries(Connected):
    def first_delivery(self, key: str) -> bool:
        """True for the one caller, on any instance, that may do the work of this request from Slack."""
        import sqlalchemy as sa

        from bot.adapters.schema import deliveries

        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(deliveries.insert().values(key=key, at=self.clock()))
            except sa.exc.IntegrityError:
                return False
            return True

    def forget_deliveries(self, before: float) -> None:
        """Requests seen before `before` are past any replay or retry: no need to remember them."""
        from bot.adapters.schema import deliveries

        with self.engine.begin() as conn:
            conn.execute(deliveries.delete().where(deliveries.c.at < before))
