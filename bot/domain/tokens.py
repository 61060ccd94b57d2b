"""A command's text split into words, double quotes (straight or curly) grouping them."""

from __future__ import annotations

import re
from typing import NamedTuple

from bot.domain.commands import CommandError

QUOTES = {'"': '"', "“": "”", "”": "”", "„": "“"}
# Inside quotes, what ends a run: an escaped quote (group 1, kept) or the closing quote; `"` and `”` close each
# other, as people type them mixed, but the `“` that closes `„` is closed by nothing else.
QUOTED_UNTIL = {
    '"': re.compile(r'\\(["“”])|["”]'),
    "”": re.compile(r'\\(["“”])|["”]'),
    "“": re.compile(r'\\(["“”])|“'),
}
ESCAPED_QUOTE = re.compile(r'\\(["“”])')
WORD_END = re.compile(r'[\s"“”„]')
# A token of words and straight-quoted runs, when every straight quote is closed and nothing is escaped.
PLAIN_QUOTED_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')


# Smart punctuation turns the `--` of an option into a dash, as it curls quotes; only these words are read back.
SMART_DASHES = ("—", "–")
DASHED_OPTIONS = frozenset({"--dry-run", "--dryrun", "--where"})


class Token(NamedTuple):
    """A tuple, not a frozen dataclass: one is made for every word of every command, in the ack, and a tuple is
    the cheapest immutable record Python makes."""

    text: str
    quoted: bool


def tokenize(text: str) -> list[Token]:
    """Split on white space; double quotes (straight or curly) group words, and `\\"` is a literal quote. An
    option typed with a smart dash (`—dry-run`) is the option."""
    tokens = split_words(text)
    if "—" in text or "–" in text:
        return [undashed(token) for token in tokens]
    return tokens


def undashed(token: Token) -> Token:
    if token.quoted or not token.text.startswith(SMART_DASHES):
        return token
    option = "--" + token.text[1:]
    return Token(option, False) if option.lower() in DASHED_OPTIONS else token


def split_words(text: str) -> list[Token]:
    curly = "“" in text or "”" in text or "„" in text
    if not curly and '"' not in text:  # most commands: str.split splits on the same white space
        return [Token(word, False) for word in text.split()]
    if not curly and "\\" not in text and text.count('"') % 2 == 0:
        # Most of the rest: straight quotes, each closed, nothing escaped. One match a token, as tokenize_runs
        # splits them (a property test holds the two together).
        return [Token(found.replace('"', ""), '"' in found) for found in PLAIN_QUOTED_TOKEN.findall(text)]
    return tokenize_runs(text)


def tokenize_runs(text: str) -> list[Token]:
    """Any text, quotes of every kind and escapes. Runs of characters, not one character at a time, so that a long
    quoted policy name costs the ack little. A regular expression's white space is str.isspace()'s, as
    str.split's is."""
    tokens: list[Token] = []
    current: list[str] = []
    quoted = in_token = False
    i, end = 0, len(text)
    while i < end:
        ch = text[i]
        if ch in QUOTES:
            quoted = in_token = True
            inside = QUOTED_UNTIL[QUOTES[ch]]
            i += 1
            while True:
                stop = inside.search(text, i)
                if stop is None:
                    current.append(ESCAPED_QUOTE.sub(r"\1", text[i:]))
                    start = "".join(current)[:30]
                    raise CommandError(f"A quote is not closed (after `\"{start}`): close it with another `\"`.")
                current.append(text[i:stop.start()])
                i = stop.end()
                if stop.group(1) is None:  # the closing quote
                    break
                current.append(stop.group(1))  # an escaped quote, kept as a quote
        elif ch.isspace():
            if in_token:
                tokens.append(Token("".join(current), quoted))
            current, quoted, in_token = [], False, False
            i += 1
        else:
            stop = WORD_END.search(text, i)
            j = stop.start() if stop else end
            current.append(text[i:j])
            in_token = True
            i = j
    if in_token:
        tokens.append(Token("".join(current), quoted))
    return tokens
