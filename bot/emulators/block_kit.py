"""Block Kit as Slack checks it: the JSON a message, a view or an ack carries, against Slack's published limits.

Slack refuses a message with `invalid_blocks` and a view with `invalid_arguments`, each naming every problem
with a JSON pointer ("must be less than 3001 characters [json-pointer:/blocks/0/text/text]"). The Slack
emulator answers with these, and tests call the same functions on what the bot builds.

The limits are those of Slack's Block Kit reference (blocks, block elements, composition objects, views).
Lengths are counted in characters of the string as sent; `&amp;` is five of them. Block and element types this
bot does not use are handed to slack_sdk's own models, which know their limits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, BlockElement

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40000
MAX_BLOCKS_TEXT = 12000  # the text of a message's blocks in all, for chat.postMessage and chat.update
MAX_TEXT = 3000  # any text object, and a section's text
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_ID = 255  # action_id, block_id, callback_id, external_id
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_LABEL = 2000  # an input's label and hint
MAX_PLACEHOLDER = 150
MAX_TEXT_INPUT_LENGTH = 3000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_MODAL_TITLE = 24
MAX_MODAL_BUTTON = 24  # submit and close
MAX_PRIVATE_METADATA = 3000
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
STYLES = ("primary", "danger")


@dataclass
class Refusal:
    """Slack's answer to what it will not show: the error code, and each problem with its JSON pointer."""

    error: str
    errors: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": False, "error": self.error}
        if self.errors:
            answer["errors"] = list(self.errors)
            answer["response_metadata"] = {"messages": [f"[ERROR] {e}" for e in self.errors]}
        return answer


def check_message(text: Any, blocks: Any) -> Refusal | None:
    """A message as chat.postMessage, chat.postEphemeral, chat.update, a response URL or an ack carries it."""
    text = "" if text is None else text
    if not isinstance(text, str):
        return Refusal("invalid_arguments", ["must be a string [json-pointer:/text]"])
    if blocks in (None, ""):
        blocks = []
    if not text and not blocks:
        return Refusal("no_text")
    if len(text) > MAX_MESSAGE_TEXT:
        return Refusal("msg_too_long")
    problems = blocks_problems(blocks, MAX_MESSAGE_BLOCKS, "/blocks")
    return Refusal("invalid_blocks", problems) if problems else None


def blocks_text_length(value: Any) -> int:
    """Every `text` string in the blocks, summed: what Slack's cumulative limit counts."""
    if isinstance(value, list):
        return sum(blocks_text_length(v) for v in value)
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else blocks_text_length(v) for k, v in value.items())
    return 0


def check_posted(blocks: Any) -> Refusal | None:
    """chat.postMessage and chat.update also refuse blocks holding more than 12,000 characters of text in all
    (`msg_blocks_too_long`): a limit Slack does not document in its reference but states in answers to bug
    reports; response URLs do not apply it."""
    if isinstance(blocks, list) and blocks_text_length(blocks) > MAX_BLOCKS_TEXT:
        return Refusal("msg_blocks_too_long")
    return None


def check_view(view: Any) -> Refusal | None:
    """A view as views.open, views.update, views.push and a view_submission ack carry it."""
    problems = view_problems(view)
    return Refusal("invalid_arguments", problems) if problems else None


def blocks_problems(blocks: Any, limit: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks") -> list[str]:
    checker = _Checker()
    checker.blocks(blocks, limit, pointer)
    return checker.problems


def view_problems(view: Any) -> list[str]:
    checker = _Checker()
    checker.view(view, "/view")
    return checker.problems


def ack_problems(body: Any) -> list[str]:
    """What Slack would refuse in an ack's body: a view under `response_action` update or push, or a message."""
    if not isinstance(body, dict) or not body:
        return []
    action = body.get("response_action")
    if action in ("update", "push"):
        return view_problems(body.get("view"))
    if action is not None:
        return [] if action in ("errors", "clear") else [f"unknown response_action {action!r}"]
    if "text" in body or "blocks" in body:
        refusal = check_message(body.get("text"), body.get("blocks"))
        return [] if refusal is None else (refusal.errors or [refusal.error])
    return []


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, message: str, pointer: str) -> None:
        self.problems.append(f"{message} [json-pointer:{pointer}]")

    # --- values ---------------------------------------------------------------------------------------

    def keys(self, value: dict[str, Any], allowed: set[str], pointer: str) -> None:
        for key in sorted(set(value) - allowed):
            self.fail(f"unexpected property {key!r}", f"{pointer}/{key}")

    def string(self, value: Any, pointer: str, maximum: int, minimum: int = 1) -> None:
        if not isinstance(value, str):
            self.fail("must be a string", pointer)
        elif len(value) < minimum:
            self.fail(f"must be more than {minimum - 1} characters", pointer)
        elif len(value) > maximum:
            self.fail(f"must be less than {maximum + 1} characters", pointer)

    def items(self, value: Any, pointer: str, maximum: int, minimum: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must be an array", pointer)
            return []
        if len(value) < minimum:
            self.fail(f"must contain at least {minimum} items", pointer)
        if len(value) > maximum:
            self.fail(f"no more than {maximum} items allowed", pointer)
        return value

    def boolean(self, value: dict[str, Any], key: str, pointer: str) -> None:
        if key in value and not isinstance(value[key], bool):
            self.fail("must be a boolean", f"{pointer}/{key}")

    def text(self, value: Any, pointer: str, maximum: int = MAX_TEXT, plain_only: bool = False) -> None:
        """A text object: plain_text or mrkdwn, never empty."""
        if not isinstance(value, dict):
            self.fail("must be a text object", pointer)
            return
        kind = value.get("type")
        if kind not in (("plain_text",) if plain_only else ("plain_text", "mrkdwn")):
            self.fail("must be plain_text" if plain_only else "must be plain_text or mrkdwn", f"{pointer}/type")
            return
        self.keys(value, {"type", "text", "emoji"} if kind == "plain_text" else {"type", "text", "verbatim"},
                  pointer)
        self.boolean(value, "emoji", pointer)
        self.boolean(value, "verbatim", pointer)
        if "text" not in value:
            self.fail("missing required field: text", pointer)
        else:
            self.string(value["text"], f"{pointer}/text", maximum)

    def optional_text(self, value: dict[str, Any], key: str, pointer: str, maximum: int,
                      plain_only: bool = True) -> None:
        if key in value:
            self.text(value[key], f"{pointer}/{key}", maximum, plain_only)

    def optional_string(self, value: dict[str, Any], key: str, pointer: str, maximum: int) -> None:
        if key in value:
            self.string(value[key], f"{pointer}/{key}", maximum)

    # --- composition objects ----------------------------------------------------------------------------

    def confirm(self, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            self.fail("must be a confirm object", pointer)
            return
        self.keys(value, {"title", "text", "confirm", "deny", "style"}, pointer)
        for key, maximum, plain in (("title", MAX_CONFIRM_TITLE, True), ("text", MAX_CONFIRM_TEXT, False),
                                    ("confirm", MAX_CONFIRM_BUTTON, True), ("deny", MAX_CONFIRM_BUTTON, True)):
            if key not in value:
                self.fail(f"missing required field: {key}", pointer)
            else:
                self.text(value[key], f"{pointer}/{key}", maximum, plain)
        if "style" in value and value["style"] not in STYLES:
            self.fail("must be primary or danger", f"{pointer}/style")

    def option(self, value: Any, pointer: str, plain_only: bool = True) -> None:
        if not isinstance(value, dict):
            self.fail("must be an option object", pointer)
            return
        self.keys(value, {"text", "value", "description", "url"}, pointer)
        if "text" not in value:
            self.fail("missing required field: text", pointer)
        else:
            self.text(value["text"], f"{pointer}/text", MAX_OPTION_TEXT, plain_only)
        if "value" not in value:
            self.fail("missing required field: value", pointer)
        else:
            self.string(value["value"], f"{pointer}/value", MAX_OPTION_VALUE)
        self.optional_text(value, "description", pointer, MAX_OPTION_TEXT)
        self.optional_string(value, "url", pointer, MAX_URL)

    def options(self, element: dict[str, Any], pointer: str, maximum: int = MAX_OPTIONS, minimum: int = 1,
                plain_only: bool = True) -> list[Any]:
        options = self.items(element.get("options"), f"{pointer}/options", maximum, minimum)
        for i, item in enumerate(options):
            self.option(item, f"{pointer}/options/{i}", plain_only)
        return options

    # --- block elements ----------------------------------------------------------------------------------

    def element(self, value: Any, pointer: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(value, dict):
            self.fail("must be an element object", pointer)
            return
        kind = value.get("type")
        if kind not in allowed:
            self.fail(f"unsupported type: {kind}", f"{pointer}/type")
            return
        check = getattr(self, "element_" + str(kind), None)
        if check is None:
            self.by_slack_sdk(BlockElement.parse, value, pointer)
            return
        if "action_id" in value:
            self.string(value["action_id"], f"{pointer}/action_id", MAX_ID)
        self.optional_text(value, "placeholder", pointer, MAX_PLACEHOLDER)
        self.boolean(value, "focus_on_load", pointer)
        if "confirm" in value:
            self.confirm(value["confirm"], f"{pointer}/confirm")
        check(value, pointer)

    def element_button(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"},
                  pointer)
        if "text" not in value:
            self.fail("missing required field: text", pointer)
        else:
            self.text(value["text"], f"{pointer}/text", MAX_BUTTON_TEXT, plain_only=True)
        self.optional_string(value, "value", pointer, MAX_BUTTON_VALUE)
        self.optional_string(value, "url", pointer, MAX_URL)
        self.optional_string(value, "accessibility_label", pointer, MAX_BUTTON_TEXT)
        if "style" in value and value["style"] not in STYLES:
            self.fail("must be primary or danger", f"{pointer}/style")

    def element_static_select(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "action_id", "options", "option_groups", "initial_option", "confirm",
                          "focus_on_load", "placeholder"}, pointer)
        if ("options" in value) == ("option_groups" in value):
            self.fail("must define exactly one of options or option_groups", pointer)
        if "option_groups" in value:
            choices = []
            for i, group in enumerate(self.items(value["option_groups"], f"{pointer}/option_groups", MAX_OPTIONS)):
                where = f"{pointer}/option_groups/{i}"
                if not isinstance(group, dict):
                    self.fail("must be an option group", where)
                    continue
                self.keys(group, {"label", "options"}, where)
                self.text(group.get("label"), f"{where}/label", MAX_OPTION_TEXT, plain_only=True)
                choices += self.options(group, where)
        else:
            choices = self.options(value, pointer)
        if "initial_option" in value:
            self.option(value["initial_option"], f"{pointer}/initial_option")
            if value["initial_option"] not in choices:
                self.fail("must match one of the options", f"{pointer}/initial_option")

    def element_plain_text_input(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "action_id", "initial_value", "multiline", "min_length", "max_length",
                          "dispatch_action_config", "focus_on_load", "placeholder"}, pointer)
        self.boolean(value, "multiline", pointer)
        if "initial_value" in value and not isinstance(value["initial_value"], str):
            self.fail("must be a string", f"{pointer}/initial_value")
        for key, minimum in (("min_length", 0), ("max_length", 1)):
            if key in value and (not isinstance(value[key], int) or isinstance(value[key], bool)
                                 or not minimum <= value[key] <= MAX_TEXT_INPUT_LENGTH):
                self.fail(f"must be a whole number from {minimum} to {MAX_TEXT_INPUT_LENGTH}", f"{pointer}/{key}")

    def element_number_input(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "action_id", "is_decimal_allowed", "initial_value", "min_value", "max_value",
                          "dispatch_action_config", "focus_on_load", "placeholder"}, pointer)
        if not isinstance(value.get("is_decimal_allowed"), bool):
            self.fail("missing required field: is_decimal_allowed", pointer)
        for key in ("initial_value", "min_value", "max_value"):
            if key in value and not isinstance(value[key], str):
                self.fail("must be a string", f"{pointer}/{key}")

    def element_timepicker(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "action_id", "initial_time", "confirm", "focus_on_load", "placeholder",
                          "timezone"}, pointer)
        if "initial_time" in value and not (isinstance(value["initial_time"], str)
                                            and TIME.match(value["initial_time"])):
            self.fail("must be HH:mm", f"{pointer}/initial_time")

    def element_overflow(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "action_id", "options", "confirm"}, pointer)
        self.options(value, pointer, maximum=5)

    def element_radio_buttons(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "action_id", "options", "initial_option", "confirm", "focus_on_load"}, pointer)
        self.options(value, pointer, maximum=10, plain_only=False)

    def element_checkboxes(self, value: dict[str, Any], pointer: str) -> None:
        self.keys(value, {"type", "action_id", "options", "initial_options", "confirm", "focus_on_load"}, pointer)
        self.options(value, pointer, maximum=10, plain_only=False)

    def by_slack_sdk(self, parse: Any, value: dict[str, Any], pointer: str) -> None:
        """A type this bot does not use: slack_sdk's model of it knows its limits."""
        try:
            parsed = parse(value)
            if parsed is None:
                self.fail(f"unsupported type: {value.get('type')}", f"{pointer}/type")
            else:
                parsed.validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
            self.fail(str(exc) or type(exc).__name__, pointer)

    # --- blocks ------------------------------------------------------------------------------------------

    def blocks(self, blocks: Any, limit: int, pointer: str) -> None:
        seen: set[str] = set()
        for i, block in enumerate(self.items(blocks, pointer, limit, minimum=0)):
            where = f"{pointer}/{i}"
            if not isinstance(block, dict):
                self.fail("must be a block object", where)
                continue
            if "block_id" in block:
                self.string(block["block_id"], f"{where}/block_id", MAX_ID)
                if block["block_id"] in seen:
                    self.fail(f"duplicate block_id {block['block_id']!r}", f"{where}/block_id")
                seen.add(block["block_id"])
            check = getattr(self, "block_" + str(block.get("type")), None)
            if check is None:
                self.by_slack_sdk(Block.parse, block, where)
            else:
                check(block, where)

    def block_section(self, block: dict[str, Any], pointer: str) -> None:
        self.keys(block, {"type", "block_id", "text", "fields", "accessory", "expand"}, pointer)
        if "text" not in block and "fields" not in block:
            self.fail("must define either text or fields", pointer)
        if "text" in block:
            self.text(block["text"], f"{pointer}/text", MAX_TEXT)
        if "fields" in block:
            for i, item in enumerate(self.items(block["fields"], f"{pointer}/fields", MAX_FIELDS)):
                self.text(item, f"{pointer}/fields/{i}", MAX_FIELD_TEXT)
        if "accessory" in block:
            self.element(block["accessory"], f"{pointer}/accessory", (
                "button", "checkboxes", "datepicker", "image", "multi_static_select", "multi_users_select",
                "overflow", "radio_buttons", "static_select", "users_select", "conversations_select",
                "channels_select", "external_select", "timepicker", "workflow_button"))
        self.boolean(block, "expand", pointer)

    def block_header(self, block: dict[str, Any], pointer: str) -> None:
        self.keys(block, {"type", "block_id", "text"}, pointer)
        self.text(block.get("text"), f"{pointer}/text", MAX_HEADER_TEXT, plain_only=True)

    def block_context(self, block: dict[str, Any], pointer: str) -> None:
        self.keys(block, {"type", "block_id", "elements"}, pointer)
        elements = self.items(block.get("elements"), f"{pointer}/elements", MAX_CONTEXT_ELEMENTS)
        for i, item in enumerate(elements):
            where = f"{pointer}/elements/{i}"
            if isinstance(item, dict) and item.get("type") == "image":
                self.element(item, where, ("image",))
            else:
                self.text(item, where, MAX_TEXT)

    def block_actions(self, block: dict[str, Any], pointer: str) -> None:
        self.keys(block, {"type", "block_id", "elements"}, pointer)
        elements = self.items(block.get("elements"), f"{pointer}/elements", MAX_ACTIONS_ELEMENTS)
        action_ids: set[str] = set()
        for i, item in enumerate(elements):
            self.element(item, f"{pointer}/elements/{i}", (
                "button", "checkboxes", "datepicker", "datetimepicker", "multi_static_select", "overflow",
                "radio_buttons", "static_select", "users_select", "conversations_select", "channels_select",
                "external_select", "timepicker", "workflow_button", "rich_text_input"))
            action_id = item.get("action_id") if isinstance(item, dict) else None
            if isinstance(action_id, str):
                if action_id in action_ids:
                    self.fail(f"duplicate action_id {action_id!r}", f"{pointer}/elements/{i}/action_id")
                action_ids.add(action_id)

    def block_divider(self, block: dict[str, Any], pointer: str) -> None:
        self.keys(block, {"type", "block_id"}, pointer)

    def block_input(self, block: dict[str, Any], pointer: str) -> None:
        self.keys(block, {"type", "block_id", "label", "element", "dispatch_action", "hint", "optional"}, pointer)
        self.text(block.get("label"), f"{pointer}/label", MAX_LABEL, plain_only=True)
        self.optional_text(block, "hint", pointer, MAX_LABEL)
        self.boolean(block, "optional", pointer)
        self.boolean(block, "dispatch_action", pointer)
        if "element" not in block:
            self.fail("missing required field: element", pointer)
        else:
            self.element(block["element"], f"{pointer}/element", (
                "plain_text_input", "number_input", "email_text_input", "url_text_input", "static_select",
                "multi_static_select", "external_select", "users_select", "multi_users_select",
                "conversations_select", "channels_select", "checkboxes", "radio_buttons", "datepicker",
                "timepicker", "datetimepicker", "rich_text_input", "file_input"))

    # --- views -------------------------------------------------------------------------------------------

    def view(self, view: Any, pointer: str) -> None:
        if not isinstance(view, dict):
            self.fail("must be a view object", pointer)
            return
        kind = view.get("type")
        if kind == "modal":
            self.keys(view, {"type", "title", "blocks", "close", "submit", "private_metadata", "callback_id",
                             "clear_on_close", "notify_on_close", "external_id", "submit_disabled"}, pointer)
            self.text(view.get("title"), f"{pointer}/title", MAX_MODAL_TITLE, plain_only=True)
            self.optional_text(view, "close", pointer, MAX_MODAL_BUTTON)
            self.optional_text(view, "submit", pointer, MAX_MODAL_BUTTON)
            has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
            if has_input and "submit" not in view:
                self.fail("submit is required when a view holds an input block", pointer)
            for key in ("clear_on_close", "notify_on_close", "submit_disabled"):
                self.boolean(view, key, pointer)
        elif kind == "home":
            self.keys(view, {"type", "blocks", "private_metadata", "callback_id", "external_id"}, pointer)
        else:
            self.fail("must be modal or home", f"{pointer}/type")
            return
        if "blocks" not in view:
            self.fail("missing required field: blocks", pointer)
        else:
            self.blocks(view["blocks"], MAX_VIEW_BLOCKS, f"{pointer}/blocks")
        if "private_metadata" in view:
            self.string(view["private_metadata"], f"{pointer}/private_metadata", MAX_PRIVATE_METADATA, minimum=0)
        self.optional_string(view, "callback_id", pointer, MAX_ID)
        self.optional_string(view, "external_id", pointer, MAX_ID)


# Slack refuses a view whose JSON, as sent, is over 250 KB (views.open, views.push, views.update, views.publish).
MAX_VIEW_BYTES = 250 * 1000


def too_large(sent: Any) -> Refusal | None:
    """Slack's refusal of a view over MAX_VIEW_BYTES, counted as sent: the `view` argument's JSON text."""
    text = sent if isinstance(sent, str) else json.dumps(sent, separators=(",", ":"))
    size = len(text.encode("utf-8", "surrogatepass"))
    return Refusal("view_too_large", [f"the view is {size} bytes; the most is {MAX_VIEW_BYTES} "
                                      "[json-pointer:/view]"]) if size > MAX_VIEW_BYTES else None
