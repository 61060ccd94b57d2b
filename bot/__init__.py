"""backup-policy-bot: change PlanetScale backup policies from Slack."""
