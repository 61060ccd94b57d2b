"""The check in `make test` against reaching into a third-party library's private names."""

from __future__ import annotations

import pytest

from tools.private_names import check, check_sources


def findings(source: str, **others: str) -> list[str]:
    return [f.what for f in check_sources({"bot/x.py": source, **others})]


def test_the_bot_and_its_handlers_use_no_private_name_of_a_library() -> None:
    assert [str(f) for f in check(["bot", "handlers"])] == []


@pytest.mark.parametrize("source", [
    "from slack_bolt.context.respond.internals import _build_message\n",
    "import uvicorn._types\n",
    "from slack_sdk._internal import thing\n",
])
def test_importing_a_private_name_or_module_is_found(source: str) -> None:
    assert findings(source)


@pytest.mark.parametrize("source", [
    "from slack_bolt import App\ndef f(app: App) -> None:\n    app._listeners.clear()\n",
    "import slack_bolt\nx = slack_bolt.App._init_context\n",
    "from slack_bolt import App\nclass A(App):\n    def f(self) -> None:\n        print(self._base_logger)\n",
    "def f(app: object) -> object:\n    return getattr(app, '_token')\n",
])
def test_reading_a_private_attribute_of_a_library_is_found(source: str) -> None:
    assert findings(source)


def test_overriding_a_private_method_of_a_library_class_is_found() -> None:
    source = ("from slack_sdk import WebClient\nclass C(WebClient):\n"
              "    def _perform_urllib_http_request(self) -> None: ...\n")
    assert findings(source) == ["C overrides its library base's private _perform_urllib_http_request"]


def test_the_bots_own_private_names_are_its_own() -> None:
    own = ("class Pool:\n    def __init__(self) -> None:\n        self._idle = []\n"
           "    def _take(self) -> None:\n        self._idle.pop()\n"
           "from pydantic import BaseModel, model_validator\nclass M(BaseModel):\n"
           "    @model_validator(mode='after')\n    def _checked(self) -> 'M':\n        return self\n"
           "x = Pool()._take\n")
    assert findings(own) == []
    # A name the bot defines elsewhere still counts when read straight off a library
    assert findings("import slack_bolt\ny = slack_bolt._idle\n", **{"bot/y.py": own})


def test_dunder_names_are_public_protocol() -> None:
    assert findings("from slack_sdk import WebClient\nclass C(WebClient):\n"
                    "    def __deepcopy__(self, memo: dict) -> 'C':\n        return self\n") == []


def test_the_standard_librarys_documented_private_names_are_not_a_librarys() -> None:
    assert findings("import os\nos._exit(0)\n") == []
    assert findings("import sys\nimport slack_bolt\nsys.exit(slack_bolt._thing)\n")


@pytest.mark.parametrize("source", [
    "from uvicorn.protocols.http.h11_impl import H11Protocol\n",
    "import uvicorn.protocols.http.h11_impl\n",
    "from uvicorn.protocols.http import h11_impl\n",
    "from slack_bolt.listener.custom_listener import CustomListener\n",
    "from starlette.middleware.base import BaseHTTPMiddleware\n",
])
def test_importing_an_undocumented_module_of_a_library_is_found(source: str) -> None:
    assert findings(source) and all("does not document" in what for what in findings(source))


@pytest.mark.parametrize("source", [
    "import uvicorn\n",
    "from slack_bolt.adapter.starlette.handler import to_bolt_request\n",
    "from slack_sdk.models.blocks import SectionBlock\n",
    "from starlette.responses import Response\n",
    "import os.path\nfrom collections.abc import Iterator\n",
])
def test_a_documented_module_or_the_standard_library_is_not_found(source: str) -> None:
    assert findings(source) == []
