"""How the command line ends on SIGINT and SIGTERM: one line ("interrupted", "terminated") and
exit 128 + the signal number, after the cleanups on the way out have removed any temporary file.

The command line is guarded from its first lines to its exit: `QuietStartUp` around the
imports of cli.py (which take a tenth of a second), then `ProgramSignals` around the command.
What runs before the package's first line (the interpreter's start, site and the installer's
import hooks) is Python's own.

This module is imported first of all, so it imports only built-in modules: `_signal` is the
C module behind `signal`, whose Python part imports enum (milliseconds an interrupt could land in).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from types import FrameType, TracebackType
    from typing import Callable, Dict, List, Optional, Type, Union

    Handler = Union[Callable[[int, Optional[FrameType]], object], int, None]
else:
    import _signal as signal

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_LINES = {int(signal.SIGINT): "interrupted", int(signal.SIGTERM): "terminated"}


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that cleanups (temporary files) run."""


def _raise_for(signum: int, frame: Optional[FrameType]) -> None:
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def exit_status(signum: int) -> int:
    """Prints the signal's one line; returns the exit status a shell gives it (130, 143).
    Further signals are ignored from here on (a second Ctrl-C would interrupt the line)."""
    _install(signal.SIG_IGN)
    print(_LINES[signum], file=sys.stderr)
    return 128 + signum


def signal_of(interrupt: BaseException) -> int:
    return signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT


def _install(handler: Handler) -> Optional[Dict[int, Handler]]:
    """Sets `handler` for both signals; the previous handlers, or None off the main thread
    (where Python allows no handlers: the command line is not running there)."""
    previous: Dict[int, Handler] = {}
    try:
        for signum in _SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:
        _restore(previous)
        return None
    return previous


def _restore(previous: Dict[int, Handler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


class QuietStartUp:
    """An interrupt inside the block exits the process with its one line (SystemExit) once
    the block is done. It is not raised where it lands: an interrupted import of a C module
    can turn into an ImportError or be printed as an unraisable exception."""

    def __init__(self) -> None:
        self.received: List[int] = []
        self.previous: Optional[Dict[int, Handler]] = None

    def _record(self, signum: int, frame: Optional[FrameType]) -> None:
        self.received.append(signum)

    def __enter__(self) -> None:
        self.previous = _install(self._record)

    def __exit__(
        self, kind: Optional[Type[BaseException]], error: Optional[BaseException], trace: Optional[TracebackType]
    ) -> None:
        if self.received:
            raise SystemExit(exit_status(self.received[0])) from None
        if self.previous is not None:
            _restore(self.previous)


class ProgramSignals:
    """Inside the block SIGINT raises KeyboardInterrupt and SIGTERM raises Terminated. After
    it, a program (`as_program`: the process exits next) ignores both: its work is done, and
    a signal in the interpreter's shutdown would print a traceback. A caller that goes on
    (tests calling main) gets its previous handlers back."""

    def __init__(self, as_program: bool) -> None:
        self.as_program = as_program
        self.previous: Optional[Dict[int, Handler]] = None

    def __enter__(self) -> None:
        self.previous = _install(_raise_for)

    def __exit__(
        self, kind: Optional[Type[BaseException]], error: Optional[BaseException], trace: Optional[TracebackType]
    ) -> None:
        if self.as_program:
            _install(signal.SIG_IGN)
        elif self.previous is not None:
            _restore(self.previous)
