"""A progress line on a terminal: counts, a bar and the time left, for repeats and sweep jobs.

Only on a TTY. Anywhere else ``bar()`` returns a bar that does nothing, so logs, pipes and files
never see a byte of it. All live bars share one status line at the bottom of the terminal
(``jobs [###---] 2/4 ~0:09 left | repeats [#--] 1/3 ~0:02 left``); a log line wipes it first, so
the two never mix, and the next step draws it again.
"""

import atexit
import shutil
import sys
import threading
import time
from typing import IO, Any, List, Optional

WIDTH = 10  # characters of bar

_active: List["Bar"] = []
_lock = threading.RLock()
_state = {"stream": None, "hooked": False}  # the stream the line is drawn on, while one is shown


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Bar:
    """One counter on the status line. Use as a context manager so it always goes away."""

    def __init__(self, label: str, total: Optional[int], stream: IO[str]) -> None:
        self.label = label
        self.total = total if total and total > 0 else None
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()

    def text(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.total is None:
            return f"{self.label} {self.done} done, {_clock(elapsed)}"
        filled = min(WIDTH, WIDTH * self.done // self.total)
        left = "~" + _clock(elapsed / self.done * (self.total - self.done)) + " left" if self.done else "~?"
        return f"{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {self.done}/{self.total} {left}"

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        _draw(self.stream)

    def close(self) -> None:
        with _lock:
            if self in _active:
                _active.remove(self)
            clear()

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SilentBar(Bar):
    """What a bar is when output is not a terminal: it counts and writes nothing."""

    def advance(self, steps: int = 1) -> None:
        self.done += steps

    def close(self) -> None:
        pass


def bar(label: str, total: Optional[int], stream: Optional[IO[str]] = None) -> Bar:
    """A live bar on a terminal, a silent one anywhere else."""
    stream = sys.stderr if stream is None else stream
    if not _is_terminal(stream):
        return SilentBar(label, total, stream)
    live = Bar(label, total, stream)
    with _lock:
        _hook_logging()
        _active.append(live)
    _draw(stream)
    return live


def _draw(stream: IO[str]) -> None:
    with _lock:
        if not _active:
            return
        columns = shutil.get_terminal_size((80, 24)).columns
        line = " | ".join(item.text() for item in _active)[: max(10, columns - 1)]
        try:
            stream.write("\r" + line + "\x1b[K")
            stream.flush()
        except (OSError, ValueError):
            return
        _state["stream"] = stream


def clear() -> None:
    """Wipe the status line, if one is shown, before anything else is written to the terminal."""
    with _lock:
        stream = _state["stream"]
        if stream is None:
            return
        _state["stream"] = None
        try:
            stream.write("\r\x1b[K")
            stream.flush()
        except (OSError, ValueError):
            pass


def _hook_logging() -> None:
    """Have every log record wipe the status line first (installed once, on a terminal only)."""
    if _state["hooked"]:
        return
    from loguru import logger

    logger.configure(patcher=lambda record: clear())
    atexit.register(clear)
    _state["hooked"] = True
