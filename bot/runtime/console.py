"""`backup-bot console`: be a Slack user in a terminal.

Each slash command becomes the signed HTTP request Slack would send, dispatched through Bolt's real
pipeline; what the bot answers (the ack, response URLs, messages, views) arrives at the bundled Slack Web API
emulator and is rendered here as text. With no PlanetScale token it runs on the bundled PlanetScale emulator.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from importlib import resources
from typing import Any, TextIO

from slack_bolt import BoltRequest

from bot.adapters.planetscale import PlanetScaleClient
from bot.domain.setting_values import is_number
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackEvent, demo_slack_state
from bot.emulators.slack_requests import (
    app_home_opened_body,
    block_actions_body,
    signed_headers,
    slash_command_body,
    state_values,
    view_submission_body,
)
from bot.runtime.app import build_app, build_dependencies, load_access_rules
from bot.runtime.console_forms import field_problem
from bot.runtime.console_planetscale import ReadOnlyPlanetScale
from bot.runtime.console_render import SHOWN_CONTROLS, blocks_to_text, is_text, mrkdwn
from bot.runtime.database import open_store
from bot.runtime.executor import TrackedExecutor
from bot.runtime.output import standard_input
from bot.runtime.settings import Settings
from bot.runtime.watch import build_watcher
from handlers.blocks import plural

CONSOLE_HELP = """\
Type a slash command as a Slack user, e.g. /backup-policy help
  as <user>       switch user ({users})
  in #<channel>   switch channel ({channels})
  click <N>       click button [N] (or type [N])
  set <field> <value>   fill a field of the open form (e.g. set retention_value 30)
  submit / close  submit or close the open form
  home            open the app's Home tab (requests waiting for you, yours, recent changes)
  dashboard <db> <policy> key=value…   change a policy in PlanetScale's dashboard, not through the bot
                  (e.g. dashboard acme/app-db bp01prod12h retention_value=1; emulator only)
  fail-backup <db> <policy>   make the policy's newest backup fail (emulator only)
  watch           run one pass of the watch now (changes made outside the bot, failing backups)
  help            this text;  quit  leaves (so does end of input)"""


class Console:
    def __init__(self, settings: Settings, out: TextIO = sys.stdout):
        self.out = out
        bot_token = "xoxb-console-" + secrets.token_hex(8)
        self.slack = demo_slack_state(bot_token)
        self._servers = [BackgroundServer(SlackEmulator(self.slack)).start()]
        slack_url = self._servers[0].url
        self.emulator: PlanetScaleEmulator | None = None
        if settings.has_planetscale_token:
            # A real PlanetScale (any token but the emulators' demo one) is read, never changed: the console's people
            # are typed, not signed in (bot/runtime/console_planetscale.py).
            kind = PlanetScaleClient if (settings.planetscale_token_id, settings.planetscale_token) == (
                DEMO_TOKEN_ID, DEMO_TOKEN) else ReadOnlyPlanetScale
            planetscale = kind(settings.planetscale_token_id or "", settings.planetscale_token or "",
                               settings.planetscale_api_url, limiter=settings.planetscale_limiter())
            self.on_emulator = False
        else:
            self.emulator = PlanetScaleEmulator()
            emulator = BackgroundServer(self.emulator).start()
            self._servers.append(emulator)
            planetscale = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, emulator.url + "/v1")
            self.on_emulator = True
        self._planetscale = planetscale
        self.signing_secret = secrets.token_hex(16)
        self.settings = replace(settings, slack_bot_token=bot_token, slack_signing_secret=self.signing_secret,
                                slack_api_url=slack_url + "/api/")
        self.slack_url = slack_url
        self.executor = TrackedExecutor()
        rules = None
        if not os.path.lexists(settings.access_file):  # a link to nothing is a file that cannot be read, not none
            self.access_note = "the demo access rules (no access.toml here)"
            rules = load_access_rules(str(resources.files("bot") / "demo_access.toml"))
        else:
            self.access_note = settings.access_file
        if "BACKUP_BOT_DATABASE_URL" not in os.environ:
            self._tmp = tempfile.TemporaryDirectory(prefix="backup-bot-console-")
            self.settings = replace(self.settings, database_url=f"sqlite:///{self._tmp.name}/console.db")
        self.deps = build_dependencies(self.settings, planetscale, store=open_store(self.settings.database_url),
                                      background=self.executor, rules=rules)
        self.app = build_app(self.settings, self.deps)
        # The watch's notices go to the audit channel: #db-ops unless BACKUP_BOT_AUDIT_CHANNEL says otherwise.
        self.deps.audit_channel = self.deps.audit_channel or "C0DBAOPS01"
        self.watcher = build_watcher(self.deps, self.app.client, self.settings.watch_every or 300.0)
        self.user = "U0ALICE001"
        self.channel = "C0DBAOPS01"
        self.cursor = 0
        self.buttons: list[tuple[dict[str, Any], SlackEvent | None]] = []
        self.view: dict[str, Any] | None = None  # the open modal, as the user sees it
        self.typed: dict[str, Any] = {}  # what the user has set in it
        self._rendering: SlackEvent | None = None
        self._responses = 0
        self._events = 0
        self.on_home = False  # the Home tab is open: what the bot publishes there is shown
        self.unread: dict[str, list[SlackEvent]] = {}  # direct messages to people other than the one you are
        self.latest: dict[tuple[str, ...], SlackEvent] = {}  # each message and Home as it stands now

    def close(self, waiting: bool = True) -> None:
        """Stops the console's work; not `waiting`, the calls to PlanetScale under way are cut first (their
        client closed), so that the threads making them end at once and the process can leave."""
        self.watcher.stop()
        if not waiting:
            self._planetscale.close()
        self.executor.shutdown(wait=True, cancel_futures=not waiting)
        self.deps.close()
        self.deps.store.close()
        self._planetscale.close()
        for server in self._servers:
            server.stop()

    # --- output -------------------------------------------------------------------------------------

    def say(self, line: str = "") -> None:
        print(line.translate(SHOWN_CONTROLS), file=self.out, flush=True)

    def user_name(self, some_id: str) -> str:
        """A user, user group or channel ID as people see it."""
        user = self.slack.users.get(some_id)
        group = self.slack.usergroups.get(some_id)
        return user.name if user else group["handle"] if group else self.slack.channels.get(some_id, some_id)

    def show(self, title: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self.say(title)
        lines = blocks_to_text(blocks, self.user_name, self._add_button) if blocks else \
            mrkdwn(text, self.user_name).splitlines()
        for line in lines:
            self.say("  " + line)
        self.say()

    def _add_button(self, element: dict[str, Any]) -> int:
        self.buttons.append((element, self._rendering))
        return len(self.buttons)

    def _where(self, event: SlackEvent | None) -> tuple[str, ...] | None:
        """The place a button was shown: a message (by its ts) or a person's Home; None for a form."""
        if event is None:
            return None
        if event.kind == "home":
            return ("home", event.user or "")
        return ("message", event.ts) if event.ts else None

    def render_event(self, event: SlackEvent) -> None:
        self._rendering = event
        where = self._where(event)
        if where is not None and event.kind in ("message", "update", "home"):
            self.latest[where] = event
        channel = "#" + self.slack.channels.get(event.channel or "", event.channel or "?")
        if event.kind == "home":
            if event.user == self.user and event.view is not None and self.on_home:
                self.show(f"[home of {self.user_name(self.user)}] backup-bot:", "", event.view.get("blocks") or [])
        elif event.kind == "message" and event.thread_ts:
            self.show(f"[{channel} thread] ↳ backup-bot:", event.text, event.blocks)
        elif event.kind == "message" and event.user:
            if event.user == self.user:
                self.show(f"[DM to {self.user_name(event.user)}] backup-bot:", event.text, event.blocks)
            else:  # shown when you become that person, as Slack shows it when they look
                self.unread.setdefault(event.user, []).append(event)
        elif event.kind == "message":
            self.show(f"[{channel}] backup-bot:", event.text, event.blocks)
        elif event.kind == "update":
            self.show(f"[{channel}] backup-bot (edited):", event.text, event.blocks)
        elif event.kind == "ephemeral" or (event.kind == "response" and event.response_type != "in_channel"):
            self.show("[only you see this] backup-bot:", event.text, event.blocks)
        elif event.kind == "response":
            self.show(f"[#{self.slack.channels.get(self.channel)}] backup-bot:", event.text, event.blocks)
        elif event.view is not None:
            self.open_view(event.view)

    # --- input --------------------------------------------------------------------------------------

    def run(self, lines: Iterable[str], interactive: bool) -> None:
        where = "the bundled PlanetScale emulator (organization acme, database app-db)" if self.on_emulator else \
            f"PlanetScale at {self.settings.planetscale_api_url} (the service token PLANETSCALE_SERVICE_TOKEN_ID " \
            "names)"
        self.say(f"backup-bot console: Slack is the bundled Slack emulator ({self.slack_url}, people alice, bob, "
                 f"carol, dave); {where}; {self.access_note}.")
        if interactive:
            self.say("Type `help` for the console's own commands.")
        for raw in lines if not interactive else self._prompted():
            line = raw.strip()
            if not is_text(line):  # bytes read undecoded (surrogateescape): Slack sends only UTF-8
                self.say("That line is not UTF-8 text (a byte of another encoding, e.g. Latin-1): type it again, "
                         "or set the terminal to UTF-8.")
                continue
            if not interactive and line:
                self.say(f"{self.user_name(self.user)}> {line}")
            if not line or line.startswith("#"):
                continue
            if line in ("quit", "exit"):
                break
            self.handle(line)

    def _prompted(self) -> Iterator[str]:
        """Lines typed at a terminal, with a prompt naming who and where you are (and readline's editing)."""
        import readline  # noqa: F401 - imported for its effect on input()

        while True:
            try:
                yield input(f"{self.user_name(self.user)}@#{self.slack.channels[self.channel]}> ")
            except EOFError:
                self.say()
                return

    def handle(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word in ("as", "in") or line.startswith("/"):
            self.on_home = False
        if line.startswith("/"):
            command, _, text = line.partition(" ")
            self.slash(command, text)
        elif word == "as":
            self.switch_user(rest.strip().lstrip("@"))
        elif word == "in":
            self.switch_channel(rest.strip().lstrip("#"))
        elif word == "click":
            self.click(rest.strip().lstrip("[").rstrip("]"))
        elif line.startswith("[") and line.endswith("]"):
            self.click(line[1:-1])
        elif word == "set":
            self.set_field(rest)
        elif word == "submit":
            self.submit()
        elif word == "home":
            self.open_home()
        elif word == "close":
            self.view = None
            self.say("Form closed.")
        elif word == "dashboard":
            self.dashboard(rest)
        elif word == "fail-backup":
            self.fail_backup(rest)
        elif word == "watch":
            self.watch_now()
        elif word in ("help", "?"):
            self.say(CONSOLE_HELP.format(users=", ".join(u.name for u in self.slack.users.values()),
                                         channels=", ".join("#" + c for c in self.slack.channels.values())))
        else:
            self.say(f"Unknown console command `{word}`: type a slash command such as /backup-policy help, "
                     "or `help`.")

    def _emulated_policy(self, words: list[str], usage: str) -> tuple[PlanetScaleState, str, str,
                                                                      str] | None:
        if self.emulator is None:
            self.say("Only on the bundled PlanetScale emulator: this console talks to a real PlanetScale.")
            return None
        state = self.emulator.state
        if len(words) < 2 or "/" not in words[0]:
            self.say(f"Usage: {usage}")
            return None
        organization, _, database = words[0].partition("/")
        if words[1] not in state.policies.get((organization, database), {}):
            known = ", ".join(state.policies.get((organization, database), {})) or "none: check the database"
            self.say(f"No policy `{words[1]}` in {words[0]} (its policy IDs: {known}).")
            return None
        return state, organization, database, words[1]

    def dashboard(self, rest: str) -> None:
        usage = "dashboard <org>/<db> <policy ID> field=value… (e.g. retention_value=1)"
        words = rest.split()
        found = self._emulated_policy(words, usage)
        if found is None:
            return
        state, organization, database, policy_id = found
        values: dict[str, Any] = {}
        for pair in words[2:]:
            key, _, value = pair.partition("=")
            values[key] = int(value) if is_number(value) else None if value == "null" else value.strip('"')
        if not values:
            self.say(f"Usage: {usage}")
            return
        try:
            state.dashboard_change(organization, database, policy_id, **values)
        except ValueError as exc:
            self.say(f"The dashboard refuses that: {exc}.")
            return
        self.say(f"(In PlanetScale's dashboard, {policy_id} of {organization}/{database} now has "
                 f"{', '.join(f'{k}={v}' for k, v in values.items())}. `watch` runs the watch now.)")

    def fail_backup(self, rest: str) -> None:
        found = self._emulated_policy(rest.split(), "fail-backup <org>/<db> <policy ID>")
        if found is None:
            return
        state, organization, database, policy_id = found
        state.fail_backup(organization, database, policy_id)
        self.say(f"(The newest backup of {policy_id} in {organization}/{database} failed. `watch` runs the watch "
                 "now.)")

    def watch_now(self) -> None:
        result = self.watcher.run_once()
        self.executor.wait_idle()
        events, self.cursor = self.slack.events_since(self.cursor)
        for event in events:
            self.render_event(event)
        if result is None:
            self.say("(Another instance holds the watch.)")
        elif not events:
            problems = f"; PlanetScale failed for {', '.join(result.failed)}" if result.failed else ""
            self.say(f"(The watch read {plural(len(result.read), 'database')}: nothing new{problems}.)")

    def open_view(self, view: dict[str, Any]) -> None:
        self.view, self.typed = view, {}
        self.render_view()

    def render_view(self, errors: dict[str, str] | None = None) -> None:
        view = self.view or {}
        self.say(f"[form] {(view.get('title') or {}).get('text', '')}")
        inputs = [b for b in view.get("blocks") or [] if b.get("type") == "input"]
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                for line in blocks_to_text([block], self.user_name, self._add_button):
                    self.say("  " + line)
                continue
            block_id, element = block["block_id"], block["element"]
            value = self.typed.get(block_id, element.get("initial_value") or element.get("initial_time") or
                                   (element.get("initial_option") or {}).get("value") or "")
            choices = ""
            if "options" in element:
                named = [o["value"] if o["value"] == o["text"]["text"].rstrip("s") or o["value"] in
                         o["text"]["text"].lower() else f"{o['value']}={o['text']['text']}" for o in element["options"]]
                choices = f"  ({' | '.join(named)})"
            optional = " (optional)" if block.get("optional") else ""
            self.say(f"  {block['label']['text']}{optional}: {value or '—'}   [set {block_id} …]{choices}")
            if errors and block_id in errors:
                self.say(f"    ⚠ {errors[block_id]}")
        if inputs or view.get("submit"):
            submit = (view.get("submit") or {}).get("text", "Submit")
            close = ((view.get("close") or {}).get("text") or "close").lower()
            self.say(f"  → `submit` to {submit.lower()}, `close` to {close}")
        self.say()

    def set_field(self, rest: str) -> None:
        block_id, _, value = rest.strip().partition(" ")
        inputs = {b["block_id"]: b for b in (self.view or {}).get("blocks") or [] if b.get("type") == "input"}
        if self.view is None or block_id not in inputs:
            self.say(f"No field `{block_id}` in an open form: {', '.join(inputs) or 'no form is open'}.")
            return
        problem = field_problem(inputs[block_id]["element"], value.strip().strip('"'))
        if problem:
            self.say(f"  ⚠ {inputs[block_id]['label']['text']}: {problem}; not set.")
            return
        self.typed[block_id] = value.strip().strip('"')
        if inputs[block_id].get("dispatch_action"):  # Slack sends the change at once
            user = self.slack.users[self.user]
            self.dispatch(block_actions_body(
                user_id=user.id, user_name=user.name, channel_id=self.channel, response_url="",
                trigger_id=self.slack.new_trigger_id(), view={**self.view, "state": {"values": state_values(
                    self.view, self.typed)}},
                action={"type": "static_select", "action_id": block_id, "block_id": block_id,
                        "selected_option": {"value": self.typed[block_id]}}))
        else:
            self.say(f"  {inputs[block_id]['label']['text']}: {self.typed[block_id]}")

    def submit(self) -> None:
        if self.view is None or not self.view.get("submit"):
            self.say("No form is open to submit.")
            return
        user = self.slack.users[self.user]
        body = view_submission_body(user_id=user.id, user_name=user.name, view=self.view,
                                    values=state_values(self.view, self.typed))
        response = self.app.dispatch(BoltRequest(body=body, headers=signed_headers(self.signing_secret, body)))
        answer = json.loads(response.body) if response.body else {}
        if answer.get("response_action") == "errors":
            self.say("[form] Not accepted:")
            self.render_view(answer.get("errors") or {})
        elif answer.get("response_action") == "update":
            self.open_view({**answer["view"], "id": self.view.get("id")})
        else:
            self.view = None
        self.executor.wait_idle()
        events, self.cursor = self.slack.events_since(self.cursor)
        for event in events:
            self.render_event(event)

    def open_home(self) -> None:
        """Slack sends app_home_opened; the Home the bot publishes is shown."""
        self._events += 1
        self.on_home = True
        body = app_home_opened_body(user_id=self.user, event_id=f"Ev{self._events:08d}")
        self.dispatch(body, content_type="application/json")

    def switch_user(self, name: str) -> None:
        found = [u for u in self.slack.users.values() if name in (u.name, u.id)]
        if not found:
            self.say(f"No user `{name}`: choose one of {', '.join(u.name for u in self.slack.users.values())}.")
            return
        self.user = found[0].id
        self.say(f"You are now {found[0].name} ({found[0].real_name}, {found[0].id}).")
        for event in self.unread.pop(self.user, []):
            self.render_event(event)

    def switch_channel(self, name: str) -> None:
        found = [cid for cid, cname in self.slack.channels.items() if name in (cname, cid)]
        if not found:
            self.say(f"No channel `#{name}`: choose one of "
                     f"{', '.join('#' + c for c in self.slack.channels.values())}.")
            return
        self.channel = found[0]
        self.say(f"You are now in #{self.slack.channels[self.channel]}.")

    def click(self, number: str) -> None:
        if not is_number(number) or not 1 <= int(number) <= len(self.buttons):
            shown = f"1 to {len(self.buttons)}" if self.buttons else "none are shown now"
            self.say(f"No button [{number}]: the buttons on screen are numbered ({shown}).")
            return
        element, event = self.buttons[int(number) - 1]
        where = self._where(event)
        now = self.latest.get(where) if where else None
        if now is not None and now is not event:
            # The message (or Home) has changed since this number was shown: the button counts if it is still there.
            still = [e for b in (now.blocks or (now.view or {}).get("blocks") or []) for e in
                     [*(b.get("elements") or []), *([b["accessory"]] if b.get("accessory") else [])]
                     if e.get("action_id") == element.get("action_id") and e.get("value") == element.get("value")]
            if not still:
                self.say(f"Button [{number}] has gone: the message it was on has changed since. Click a button "
                         "it shows now.")
                return
        confirm = element.get("confirm")
        if confirm:
            self.say("(" + mrkdwn(f"{confirm['title']['text']} {confirm['text']['text']} → "
                                  f"{confirm['confirm']['text']}", self.user_name) + ")")
        user = self.slack.users[self.user]
        self._responses += 1
        message = {"type": "message", "ts": event.ts, "text": event.text, "blocks": event.blocks} \
            if event is not None and event.ts else None
        on_home = event is not None and event.kind == "home"  # Slack sends the Home's view, no response URL
        self.dispatch(block_actions_body(
            user_id=user.id, user_name=user.name, channel_id=(event.channel if event and event.channel else
                                                              self.channel),
            response_url=f"{self.slack_url}/response/{self._responses}", trigger_id=self.slack.new_trigger_id(),
            message=message, view=event.view if on_home and event is not None else None,
            action={k: element[k] for k in ("type", "action_id", "value", "text") if k in element}
            | {"block_id": "console"}))

    def slash(self, command: str, text: str) -> None:
        if command != "/backup-policy":
            self.say(f"`{command}` is not a command of this app: try /backup-policy help.")
            return
        self._responses += 1
        user = self.slack.users[self.user]
        body = slash_command_body(
            text, user_id=user.id, user_name=user.name, channel_id=self.channel,
            channel_name=self.slack.channels[self.channel],
            response_url=f"{self.slack_url}/response/{self._responses}", trigger_id=self.slack.new_trigger_id())
        self.dispatch(body)

    def dispatch(self, body: str, content_type: str = "application/x-www-form-urlencoded") -> None:
        # Button numbers are never reused in a session, so any button shown earlier can still be clicked.
        response = self.app.dispatch(BoltRequest(body=body, headers=signed_headers(self.signing_secret, body,
                                                                                   content_type=content_type)))
        if response.status != 200:
            self.say(f"(Slack would show an error: the app answered HTTP {response.status})")
        elif response.body:
            # Slack shows a plain-text ack as is, and a JSON ack as a message.
            is_json = "json" in (response.headers.get("content-type") or [""])[0]
            ack: dict[str, Any] = json.loads(response.body) if is_json else {"text": response.body}
            if ack.get("text") or ack.get("blocks"):
                self.show("[only you see this] backup-bot:", str(ack.get("text", "")), list(ack.get("blocks") or []))
        self.executor.wait_idle()
        events, self.cursor = self.slack.events_since(self.cursor)
        for event in events:
            self.render_event(event)


def main(settings: Settings, out: TextIO = sys.stdout) -> int:
    console, interrupted = Console(settings, out), False
    try:
        console.run(standard_input(), interactive=sys.stdin is not None and sys.stdin.isatty())
    except KeyboardInterrupt:
        interrupted = True
        console.say("Interrupted (Ctrl-C): the console stops without waiting for a call to PlanetScale under way; "
                    "a change it was sending may have landed: `/backup-policy history` shows it next time.")
        logging.disable(logging.ERROR)  # the cut calls' failures are the interruption just told, not news
    finally:
        console.close(waiting=not interrupted)
        logging.disable(logging.NOTSET)
    return 130 if interrupted else 0
