"""Lock objects for each lock style, made to match the primitive, and the code style each is taken with.

Locks are created inside a run, never at import time: a module-level threading.Lock
cannot be pickled, and a module-level multiprocessing lock would be shared by accident.
"""

import threading
from contextlib import ContextDecorator
from typing import Any, Callable, Optional, Tuple

# lock style -> how the loop uses it (see loops.py)
LOCK_STYLE = {
    "none": "none",
    "explicit": "explicit",
    "decorator": "decorator",
    "context": "context",
    "rlock": "explicit",
    "semaphore": "explicit",
    "value_lock": "explicit",
    "manager": "explicit",
    "local_sum": "local_sum",
}


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


def _nothing() -> None:
    return None


def make_lock(style: str, context: Any = None, shared: Any = None) -> Tuple[Optional[Any], Callable[[], None]]:
    """The lock a worker's loop uses for ``style`` and a function that releases its resources.

    ``context`` is the multiprocessing context for process primitives, None for threads
    (which get threading locks, as the notebook's thread example does). ``shared`` is the
    multiprocessing.Value whose built-in lock ``value_lock`` uses.
    """
    if style == "none":
        return None, _nothing
    if style == "value_lock":
        return shared.get_lock(), _nothing
    if style == "manager":
        manager = context.Manager()
        return manager.Lock(), manager.shutdown
    source = threading if context is None else context
    if style == "rlock":
        return source.RLock(), _nothing
    if style == "semaphore":
        return source.Semaphore(1), _nothing
    raw = source.Lock()
    return (SimpleLock(raw) if style in ("decorator", "context") else raw), _nothing


def make_async_lock(style: str) -> Optional[Any]:
    """asyncio's counterpart, created inside the running event loop (3.8 binds it there)."""
    import asyncio

    if style == "none":
        return None
    return asyncio.Semaphore(1) if style == "semaphore" else asyncio.Lock()
