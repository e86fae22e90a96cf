"""The measured loops, written out for each (shape, lock style, sleep) as plain source.

Like timeit's template, each loop is generated so that its body carries the operation and
its lock and nothing else: no per-operation branch on the lock style, no config lookup, no
counter. Counting and timing happen around the loop, never inside it.

Shapes (the statement that updates the balance):
- ``inplace``: ``balance += amount`` on a module global (the notebook's thread example);
- ``read_modify_write``: ``shared.value = shared.value + amount`` (the notebook's processes).
``call_per_op`` wraps the statement in a function called once per operation, as the
notebook's pool example does with ``deposit(amount)``; the decorator lock always needs one.
"""

import time
from typing import Any, Callable, Dict

STATEMENTS = {
    "inplace": "balance += amount",
    "read_modify_write": "shared.value = shared.value + amount",
}


def _indent(lines: "list[str]", depth: int) -> "list[str]":
    return ["    " * depth + line for line in lines]


def _locked(statement: str, lock_style: str) -> "list[str]":
    """The statement with the lock taken around it (the decorator lock wraps a function instead)."""
    if lock_style == "explicit":
        return ["lock.acquire()", statement, "lock.release()"]
    if lock_style == "context":
        return ["with lock:", "    " + statement]
    return [statement]


def loop_source(shape: str, lock_style: str, call_per_op: bool, sleep: bool) -> str:
    """Source of ``loop(n, amount)`` (and of ``update``/``op`` when an operation is a call)."""
    statement = STATEMENTS[shape]
    declare = ["global balance"] if shape == "inplace" else []
    lines: "list[str]" = []
    if call_per_op or lock_style == "decorator":
        inner = [statement] if lock_style == "decorator" else _locked(statement, lock_style)
        lines += ["def update(amount):"] + _indent(declare + inner, 1)
        lines += ["op = lock(update)" if lock_style == "decorator" else "op = update", ""]
        body = ["op(amount)"]
        declare = []
    else:
        body = _locked(statement, lock_style)
    pre = ["sleep(pause)"] if sleep else []
    lines += ["def loop(n, amount):"] + _indent(declare, 1)
    lines += _indent(["for _ in range(n):"], 1) + _indent(pre + body, 2)
    return "\n".join(lines) + "\n"


def build_loop(
    shape: str, lock_style: str, call_per_op: bool, pause: float, namespace: Dict[str, Any]
) -> Callable[[int, int], None]:
    """Compile the loop into ``namespace`` (which holds ``balance`` or ``shared``, and ``lock``).

    The namespace becomes the loop's globals, so a thread loop's ``balance`` is
    ``namespace["balance"]`` and every thread given the same namespace shares it.
    """
    namespace.setdefault("lock", None)
    namespace["sleep"] = time.sleep
    namespace["pause"] = pause
    source = loop_source(shape, lock_style, call_per_op, pause > 0)
    exec(compile(source, f"<synclab loop {shape}/{lock_style}>", "exec"), namespace)
    return namespace["loop"]
