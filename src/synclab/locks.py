"""Lock objects for each lock style, made to match the primitive.

Locks are created inside a run, never at import time: a module-level threading.Lock
cannot be pickled, and a module-level multiprocessing lock would be shared by accident.
"""

import threading
from contextlib import ContextDecorator
from typing import Any, Optional


class SimpleLock(ContextDecorator):
    """The notebook's lock: usable as ``@simple_lock`` on a function or in ``with simple_lock:``."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock

    def __enter__(self) -> "SimpleLock":
        self.lock.acquire()
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.lock.release()

    def __getstate__(self) -> dict:
        # ContextDecorator objects travel to pool workers through the initializer.
        return {"lock": self.lock}

    def __setstate__(self, state: dict) -> None:
        self.lock = state["lock"]


def make_lock(style: str, primitive: str, context: Any = None) -> Optional[Any]:
    """The lock object a worker's loop uses for ``style``, or None for ``none``.

    ``context`` is the multiprocessing context for process primitives; threads get a
    threading.Lock, as the notebook's thread example does.
    """
    if style == "none":
        return None
    raw = threading.Lock() if primitive == "thread" else context.Lock()
    if style in ("decorator", "context"):
        return SimpleLock(raw)
    return raw
