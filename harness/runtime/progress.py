"""The one progress console: every line the harness says while it works goes through here.

Lines are redacted before they are written, whoever wrote them, so a component's message that
quotes a token cannot leak it to a CI log. On a terminal rich styles the prefix; anywhere else
(CI logs, pipes) lines are plain and never wrapped, so they stay greppable. Inside pytest the
lines go through the terminal reporter with capture suspended, so they appear at once.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import IO

from eg_harness.runtime.secrets import redact
from rich.console import Console
from rich.text import Text

PREFIX = "[eg-harness]"


class ProgressConsole:
    """Callable as `progress(msg)`, the signature every provisioning and load step takes."""

    def __init__(
        self, stream: IO[str] | None = None, write_line: Callable[[str], None] | None = None
    ):
        self._stream = stream
        self._write_line = write_line

    def __call__(self, msg: str) -> None:
        line = f"{PREFIX} {redact(str(msg))}"
        if self._write_line is not None:
            self._write_line(line)
            return
        stream = self._stream or sys.stdout
        if stream.isatty():
            text = Text(PREFIX, style="bold cyan")
            text.append(line[len(PREFIX) :])
            Console(file=stream, highlight=False, soft_wrap=True).print(text)
        else:
            stream.write(line + "\n")
        stream.flush()


def console(stream: IO[str] | None = None) -> ProgressConsole:
    """The console on stdout (or `stream`), as the CLI commands use it."""
    return ProgressConsole(stream)


def through_pytest(config) -> ProgressConsole:
    """A console that writes through pytest's terminal reporter, bypassing output capture."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")

    def write_line(line: str) -> None:
        ctx = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
        with ctx:
            if tr is None:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
                return
            tr.ensure_newline()
            tr.write_line(line)
            tr.flush()

    return ProgressConsole(write_line=write_line)
