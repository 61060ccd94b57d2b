"""The access rules' file, read again when it changes and has settled; a bad new version keeps the last good
rules.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.access_rules import AccessFileError, AccessRules, decode_rules

log = logging.getLogger("bot.domain.access")


# A bound on the file read: a file pointed at by mistake (a log, a dump) would be read whole into memory, and again
# at each reload, until the process is killed for it. Thousands of rules take a few hundred kilobytes.
MOST_BYTES = 16 * 2**20


def read_regular_file(path: str) -> bytes:
    """The bytes of a regular file (or of what a symbolic link points to); AccessFileError for anything else: a pipe
    would block the reader until something writes to it, and a device may never end."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        handle = os.fdopen(descriptor, "rb")
    except IsADirectoryError:  # fdopen refuses a folder by its descriptor's number, not its path
        os.close(descriptor)
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path) from None
    except BaseException:  # fdopen leaves the descriptor of what it refuses open
        os.close(descriptor)
        raise
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise AccessFileError(f"{path} is not a regular file (a pipe or a device): point BACKUP_BOT_ACCESS_FILE "
                                  "at the rules file itself.")
        raw = handle.read(MOST_BYTES + 1)
        if len(raw) > MOST_BYTES:
            raise AccessFileError(f"{path} is over {MOST_BYTES // 2**20} MB, far more than any rules: point "
                                  "BACKUP_BOT_ACCESS_FILE at the rules file itself.")
        return raw


# A new version of the access file is taken once it has stayed the same this long: written in place, a file is
# read half-written while its writer is at it (and half a file may parse, as rules that ask less). Two seconds,
# as some file systems keep modification times to the second.
SETTLE_SECONDS = 2.0

Stamp = tuple[int, int, int]  # the file's modification time (ns), size and inode


@dataclass(frozen=True)
class RulesProblem:
    """Why the file's latest version is not in force, as facts that hold none of its contents (which may be
    secret): the file's name, and the line at fault where one is."""

    file: str
    line: int | None


LINE = re.compile(r" line (\d+)")


class AccessFile:
    """The rules of one file, read again when the file changes; a bad new version keeps the last good rules.

    A new version is read only once nothing has written to it for SETTLE_SECONDS (by its modification time, or,
    for a time this clock cannot trust, by how long this bot has seen it unchanged), and only if it is the
    same before and after the read. Until then, the last good rules apply and nothing is reported: a file
    being written is not a bad file."""

    def __init__(self, path: str, clock: Callable[[], float] | None = None,
                 start: tuple[Stamp, bytes] | None = None):
        """`start`: the version to begin with (another process's `version`), instead of reading the file now."""
        import time

        if "\0" in path:  # os.stat and open raise ValueError, not an error of a file, on it
            raise AccessFileError(f"{path!r} holds a NUL byte, which no file's path may: write the path alone "
                                  "(a .env saved with NUL padding?).")
        self.path = path
        self.clock = clock or time.time
        self._lock = threading.Lock()
        self._stamp, raw = start or self._read_whole()
        self._rules = decode_rules(raw, path)
        self.version = (self._stamp, raw)  # the rules in force: the file's stamp and bytes then
        self.last_error: str | None = None
        self._seen: tuple[Stamp, float] | None = None  # a new version not yet taken, and when it was first seen

    def _stat(self) -> Stamp:
        info = os.stat(self.path)
        return info.st_mtime_ns, info.st_size, info.st_ino

    def _read_whole(self) -> tuple[Stamp, bytes]:
        """The file's bytes, unchanged while it was read (the writer's last write may land meanwhile)."""
        for _ in range(20):
            before = self._stat()
            raw = read_regular_file(self.path)
            if self._stat() == before:
                return before, raw
        raise AccessFileError(f"{self.path} kept changing while it was read; write it once, then start the bot.")

    def _settled(self, stamp: Stamp) -> bool:
        now = self.clock()
        if now - stamp[0] / 1e9 >= SETTLE_SECONDS:
            return True
        if self._seen is None or self._seen[0] != stamp:
            self._seen = (stamp, now)
        return now - self._seen[1] >= SETTLE_SECONDS

    @property
    def rules(self) -> AccessRules:
        try:
            stamp = self._stat()
        except OSError as exc:
            self._note(f"{self.path} cannot be read ({exc.strerror}); keeping the last good rules.")
            return self._rules
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp and self._settled(stamp):
                    self._reload(stamp)
        elif self.last_error is not None and stamp == self.version[0]:
            with self._lock:  # readable again, as the version in force: nothing is wrong with it now
                if stamp == self.version[0]:
                    self.last_error = None
        return self._rules

    def _reload(self, stamp: Stamp) -> None:
        try:
            raw = read_regular_file(self.path)
            if self._stat() != stamp:
                return  # written to while read: judged again at the next decision
            self._stamp = stamp
            self._rules = decode_rules(raw, self.path)
            self.version = (stamp, raw)
            self.last_error = None
            log.info("reloaded the access rules from %s", self.path)
        except AccessFileError as exc:
            self._note(f"{middle_cut(str(exc).rstrip('.'), REASON_CHARS)}; keeping the last good rules.")
        except OSError as exc:  # as when its stat fails: the path, and the reason in words
            self._note(f"{self.path} cannot be read ({exc.strerror or type(exc).__name__}); keeping the last good "
                       "rules.")
        except Exception as exc:  # whatever else the file holds, the last good rules stay
            self._note(f"{self.path} could not be read ({type(exc).__name__}); keeping the last good rules.")

    def _note(self, message: str) -> None:
        told, self.last_error = self.last_error, message
        if message != told:  # logged once it is what /healthz tells
            log.error("access rules not reloaded: %s", message)

    @property
    def problem(self) -> RulesProblem | None:
        """Why the rules in force are not the file's latest version (the last good ones kept); None when they are."""
        message = self.last_error
        if message is None:
            return None
        line = LINE.search(message.removeprefix(self.path))
        return RulesProblem(os.path.basename(self.path), int(line.group(1)) if line else None)


# A refused reload's reason is logged and told at every /healthz: a name pasted whole into the file (megabytes)
# is shown by its ends, which keep the file, the line and the reason.
REASON_CHARS = 1000


def middle_cut(text: str, most: int) -> str:
    return text if len(text) <= most else f"{text[:most // 2]}…{text[-(most // 2 - 1):]}"


class StaticRules:
    def __init__(self, rules: AccessRules):
        self.rules = rules
        self.last_error: str | None = None
        self.problem: RulesProblem | None = None


RulesSource = AccessFile | StaticRules
