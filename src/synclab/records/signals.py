"""Signals for the commands that read records (report, verify, replay, compare): Ctrl-C, SIGTERM
and SIGHUP end one with what it was cleaning up cleaned up (a replay's run stopped, an unpacked
archive removed) and one line, exit 128 + the signal. Runs and sweeps have their own:
synclab.app.interrupt. Standard library only.
"""

import contextlib
import os
import signal
import threading
from typing import Any, Callable, Iterator, List, Sequence

STOPPING = (signal.SIGTERM, signal.SIGHUP)  # what would kill the process outright
INTERRUPTING = (signal.SIGINT, *STOPPING)


def _raise(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)  # as interrupt.py does for a run


@contextlib.contextmanager
def handled(signums: Sequence[int], handler: Callable[[int, Any], None], only_default: bool = False) -> Iterator[None]:
    """signums go to handler for the duration (only those still at their default, if only_default),
    and back to their handlers afterwards. Only the main thread, where signals land, can do this."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in signums}
    for signum, before in previous.items():
        if not only_default or before == signal.SIG_DFL:
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, before in previous.items():
            if before is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, before)


def interrupting() -> "contextlib.AbstractContextManager[None]":
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does, instead of killing the process
    outright, so that what is cleaned up on the way out is; a handler already installed is kept."""
    return handled(STOPPING, _raise, only_default=True)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP held back for the duration (a run being started, before there is
    anything to stop), then the first that came delivered again."""
    caught: List[int] = []
    try:
        with handled(INTERRUPTING, lambda signum, frame: caught.append(signum)):
            yield
    finally:
        if caught:
            os.kill(os.getpid(), caught[0])
