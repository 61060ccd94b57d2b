"""The demo's organization, seeded with databases, policies and a history of backups.
"""

from __future__ import annotations

from bot.emulators.planetscale_schedule import RETENTION_HOURS
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState


def seed_backups(state: PlanetScaleState, organization: str, database: str, runs: int = 6) -> None:
    """A healthy history: each policy's last `runs` backups succeeded, one period apart."""
    for policy_id, policy in state.policies[(organization, database)].items():
        every = policy["frequency_value"] * RETENTION_HOURS.get(policy["frequency_unit"], 24)
        for run in reversed(range(runs)):
            state.add_backup(organization, database, policy_id, hours_ago=1 + run * every)


def seed_demo(state: PlanetScaleState) -> PlanetScaleState:
    """The demo organization: acme, with app-db (MySQL) and billing-db (Postgres)."""
    state.add_database("acme", "app-db", kind="mysql")
    state.add_policy("acme", "app-db", "bp01prod12h", name="Production daily", target="production",
                     retention_value=2, retention_unit="day", frequency_value=12, frequency_unit="hour",
                     schedule_time="09:10", required=True)
    state.add_policy("acme", "app-db", "bp02prodwk", name="Production weekly", target="production",
                     retention_value=4, retention_unit="week", frequency_value=1, frequency_unit="week",
                     schedule_time="03:00", schedule_day=0)
    state.add_policy("acme", "app-db", "bp03devday", name="Development daily", target="development",
                     retention_value=3, retention_unit="day", frequency_value=1, frequency_unit="day",
                     schedule_time="04:30")
    state.add_database("acme", "billing-db", kind="postgresql")
    state.add_policy("acme", "billing-db", "bp04billing", name="Production daily", target="production",
                     retention_value=2, retention_unit="day", frequency_value=12, frequency_unit="hour",
                     schedule_time="01:00", required=True)
    state.add_policy("acme", "billing-db", "bp05billmon", name="Monthly archive", target="production",
                     retention_value=1, retention_unit="year", frequency_value=1, frequency_unit="month",
                     schedule_time="05:00", schedule_day=1, schedule_week=0)
    seed_backups(state, "acme", "app-db")
    seed_backups(state, "acme", "billing-db", runs=2)
    state.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "acme")
    state.add_member("acme", "alice@acme.example", "Alice Admin", "admin")
    state.add_member("acme", "bob@acme.example", "Bob Builder", "member")
    state.add_member("acme", "carol@acme.example", "Carol Lead", "admin")
    return state
