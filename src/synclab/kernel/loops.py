"""The measured loops, written out for each configuration as plain source.

Like timeit's template, each loop is generated so that its body carries the operation and
its lock and nothing else: no per-operation branch on the lock style, no config lookup, no
counter. Counting and timing happen around the loop, never inside it.

Where the balance lives (``target``):
- ``global``: ``balance``, a module global of the loop's namespace (threads, asyncio tasks);
- ``value``: ``shared.value``, a multiprocessing.Value (processes, pools).
Increments (the statement that updates it):
- ``inplace``: ``balance += amount`` (the notebook's thread example);
- ``read_modify_write``: ``balance = balance + amount`` (the notebook's processes);
- ``read_call_write``: ``balance = balance + pass_through(amount)``: a call between the read
  and the write, where an interpreter may switch threads (an ``await`` for asyncio).
Lock styles: ``none``, ``explicit`` (acquire/release), ``context`` (``with``),
``decorator`` (a ContextDecorator around an update function), ``local_sum`` (no lock per
operation: a private sum, added to the balance once at the end under the lock).
``call_per_op`` wraps the update in a function called once per operation, as the notebook's
pool example does with ``deposit(amount)``.
"""

import re
import time
import types
from typing import Any, Callable, Dict, List

TARGETS = {"global": "balance", "value": "shared.value"}
LOCK_STYLES = ("none", "explicit", "context", "decorator", "local_sum")


def statement(target: str, increment: str, is_async: bool = False) -> str:
    name = TARGETS[target]
    if increment == "inplace":
        return f"{name} += amount"
    if increment == "read_modify_write":
        return f"{name} = {name} + amount"
    call = "await pass_through(amount)" if is_async else "pass_through(amount)"
    return f"{name} = {name} + {call}"


def _indent(lines: List[str], depth: int = 1) -> List[str]:
    return ["    " * depth + line for line in lines]


def _locked(body: List[str], lock_style: str, is_async: bool) -> List[str]:
    """``body`` with the lock taken around it (the decorator lock wraps a function instead)."""
    if lock_style == "explicit":
        return ["await lock.acquire()" if is_async else "lock.acquire()"] + body + ["lock.release()"]
    if lock_style == "context":
        return ["async with lock:" if is_async else "with lock:"] + _indent(body)
    return body


# Names of the loop's namespace that stay the same for the whole loop (the shared state's
# container, the lock, the decorated update...). Bound as keyword-only defaults they are read
# as locals, as in a hand-written function that is handed its lock: a global lookup per use
# would be harness in the measurement (a free-threaded 3.13 does not specialize it away).
_INVARIANT = ("lock", "op", "shared", "sleep", "pause", "async_sleep", "pass_through")


def _bound(lines: List[str]) -> str:
    used = [name for name in _INVARIANT if any(re.search(rf"\b{name}\b", line) for line in lines)]
    return ", *" + "".join(f", {name}={name}" for name in used) if used else ""


def loop_source(
    target: str, increment: str, lock_style: str, call_per_op: bool, sleep: bool, is_async: bool = False
) -> str:
    """Source of ``loop(n, amount)`` (and of ``update``/``op`` when an operation is a call)."""
    define = "async def" if is_async else "def"
    declare = ["global balance"] if target == "global" else []
    lines: List[str] = []
    if lock_style == "local_sum":
        body = ["local += amount"]
        final = _locked([f"{TARGETS[target]} = {TARGETS[target]} + local"], "explicit", is_async)
        pre_loop = ["local = 0"]
    else:
        update = [statement(target, increment, is_async)]
        final, pre_loop = [], []
        if call_per_op or lock_style == "decorator":
            inner = update if lock_style == "decorator" else _locked(update, lock_style, is_async)
            lines += [f"{define} update(amount{_bound(inner)}):"] + _indent(declare + inner)
            lines += ["op = lock(update)" if lock_style == "decorator" else "op = update", ""]
            body = ["await op(amount)" if is_async else "op(amount)"]
            declare = []
        else:
            body = _locked(update, lock_style, is_async)
    if sleep:
        body = ["await async_sleep(pause)" if is_async else "sleep(pause)"] + body
    lines += [f"{define} loop(n, amount{_bound(body + final)}):"] + _indent(declare + pre_loop + ["for _ in range(n):"])
    lines += _indent(body, 2) + _indent(final)
    return "\n".join(lines) + "\n"


def _pass_through(amount: int) -> int:
    return amount


@types.coroutine
def _yield_to_loop() -> Any:
    """What ``asyncio.sleep(0)`` does, without importing asyncio into process workers."""
    yield


async def _async_pass_through(amount: int) -> int:
    await _yield_to_loop()  # the await between read and write: other tasks run here
    return amount


def build_loop(
    target: str,
    increment: str,
    lock_style: str,
    call_per_op: bool,
    pause: float,
    namespace: Dict[str, Any],
    is_async: bool = False,
) -> Callable[[int, int], Any]:
    """Compile the loop into ``namespace`` (which holds ``balance`` or ``shared``, and ``lock``).

    The namespace becomes the loop's globals, so a thread loop's ``balance`` is
    ``namespace["balance"]`` and every thread given the same namespace shares it. Everything else
    the loop uses (the lock, the update, ``shared``, sleep) is bound when it is built: a later
    change of ``namespace["lock"]`` does not reach a loop already built.
    """
    namespace.setdefault("lock", None)
    namespace.update(sleep=time.sleep, pause=pause, pass_through=_pass_through)
    if is_async:
        import asyncio

        namespace.update(async_sleep=asyncio.sleep, pass_through=_async_pass_through)
    source = loop_source(target, increment, lock_style, call_per_op, pause > 0, is_async)
    exec(compile(source, f"<synclab loop {target}/{increment}/{lock_style}>", "exec"), namespace)
    return namespace["loop"]
