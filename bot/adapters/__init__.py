"""Adapters to the outside: PlanetScale's API (httpx), storage (SQLAlchemy), Slack's directory (slack_sdk)."""
