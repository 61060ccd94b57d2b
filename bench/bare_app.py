"""The baseline: a bare Bolt app that only acks, on the same server and adapter as `backup-bot serve`."""

from __future__ import annotations

import os
import re

import uvicorn
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.runtime.server import create_asgi_app


def main() -> None:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], process_before_response=True)

    @app.command("/backup-policy")
    def ack_only(ack: Ack) -> None:
        ack()

    @app.action(re.compile(".*"))
    def ack_click(ack: Ack) -> None:
        ack()

    uvicorn.run(create_asgi_app(app), host="127.0.0.1", port=int(os.environ["PORT"]), log_config=None,
                access_log=False)


if __name__ == "__main__":
    main()
