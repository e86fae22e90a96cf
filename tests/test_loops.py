"""The generated measured loops: they carry the operation and its lock and nothing else, and
they update the balance exactly as often as asked."""

import ast
import asyncio
import itertools
import threading
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest

from synclab.kernel.locks import LOCK_STYLE, SimpleLock, make_lock
from synclab.kernel.loops import LOCK_STYLES, TARGETS, build_loop, loop_source, statement
from synclab.kernel.spec import INCREMENTS

COMBINATIONS = list(itertools.product(TARGETS, INCREMENTS, LOCK_STYLES, (False, True), (False, True)))


class CountingLock:
    """A lock that counts how often it was taken."""

    def __init__(self) -> None:
        self.inner = threading.Lock()
        self.acquired = 0
        self.released = 0

    def acquire(self) -> bool:
        self.acquired += 1
        return self.inner.acquire()

    def release(self) -> None:
        self.released += 1
        self.inner.release()

    def __enter__(self) -> "CountingLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _for_body(source: str) -> List[ast.stmt]:
    tree = ast.parse(source)
    loops = [node for node in ast.walk(tree) if isinstance(node, ast.For)]
    assert len(loops) == 1, source
    return loops[0].body


@pytest.mark.parametrize("target, increment, lock_style, call_per_op, sleep", COMBINATIONS)
def test_loop_source_has_no_branch_lookup_or_logging(
    target: str, increment: str, lock_style: str, call_per_op: bool, sleep: bool
) -> None:
    source = loop_source(target, increment, lock_style, call_per_op, sleep)
    tree = ast.parse(source)
    assert not any(isinstance(node, (ast.If, ast.IfExp, ast.Try, ast.Subscript)) for node in ast.walk(tree))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {"logger", "logging", "print", "spec", "cfg", "config"}
    body = _for_body(source)
    assert 1 <= len(body) <= 4
    if sleep:
        assert ast.unparse(body[0]) == "sleep(pause)"
    else:
        assert "sleep" not in source


@pytest.mark.parametrize("target, increment, lock_style, call_per_op, sleep", COMBINATIONS)
def test_only_the_shared_balance_is_a_global_of_the_loop(
    target: str, increment: str, lock_style: str, call_per_op: bool, sleep: bool
) -> None:
    """The lock, the update, the Value and sleep are the loop's locals, as they are in a
    hand-written loop handed them: the measured loop looks up nothing else per operation."""
    namespace: Dict[str, Any] = {"lock": SimpleLock(threading.Lock()) if lock_style == "decorator" else threading.Lock(),
                                 "balance": 0, "shared": SimpleNamespace(value=0)}
    loop = build_loop(target, increment, lock_style, call_per_op, 0.001 if sleep else 0.0, namespace)
    functions = [loop] + ([namespace["update"]] if "update" in namespace else [])
    for function in functions:
        code = function.__code__
        looked_up = set(code.co_names) - {"acquire", "release", "value", "range"}
        assert looked_up <= {"balance"}, (function.__name__, looked_up)


@pytest.mark.parametrize("target, increment", list(itertools.product(TARGETS, INCREMENTS)))
def test_the_statement_inside_the_loop(target: str, increment: str) -> None:
    source = loop_source(target, increment, "none", False, False)
    assert [ast.unparse(s) for s in _for_body(source)] == [statement(target, increment)]


def test_statements_are_the_notebook_shapes() -> None:
    assert statement("global", "inplace") == "balance += amount"
    assert statement("value", "read_modify_write") == "shared.value = shared.value + amount"
    assert statement("global", "read_call_write") == "balance = balance + pass_through(amount)"
    assert statement("global", "read_call_write", True) == "balance = balance + await pass_through(amount)"


def test_lock_code_shapes() -> None:
    explicit = [ast.unparse(s) for s in _for_body(loop_source("value", "read_modify_write", "explicit", False, False))]
    assert explicit == ["lock.acquire()", "shared.value = shared.value + amount", "lock.release()"]
    context = loop_source("value", "read_modify_write", "context", False, False)
    assert "with lock:" in context and "acquire" not in context
    decorator = loop_source("value", "read_modify_write", "decorator", False, False)
    assert "op = lock(update)" in decorator
    assert [ast.unparse(s) for s in _for_body(decorator)] == ["op(amount)"]
    local = loop_source("global", "inplace", "local_sum", False, False)
    assert [ast.unparse(s) for s in _for_body(local)] == ["local += amount"]
    assert "lock" not in loop_source("global", "inplace", "none", True, False)


def _run(target: str, increment: str, lock_style: str, call_per_op: bool, lock: Any, n: int, amount: int) -> int:
    namespace: Dict[str, Any] = {"lock": lock}
    if target == "global":
        namespace["balance"] = 1000
    else:
        namespace["shared"] = SimpleNamespace(value=1000)
    loop = build_loop(target, increment, lock_style, call_per_op, 0.0, namespace)
    loop(n, amount)
    return namespace["balance"] if target == "global" else namespace["shared"].value


@pytest.mark.parametrize("target, increment, lock_style, call_per_op", list(itertools.product(TARGETS, INCREMENTS, LOCK_STYLES, (False, True))))
def test_built_loop_applies_every_operation_and_takes_the_lock_as_designed(
    target: str, increment: str, lock_style: str, call_per_op: bool
) -> None:
    counting = CountingLock()
    lock: Any = None if lock_style == "none" else SimpleLock(counting) if lock_style == "decorator" else counting
    assert _run(target, increment, lock_style, call_per_op, lock, 50, 3) == 1000 + 150
    assert _run(target, increment, lock_style, call_per_op, lock, 20, -7) == 1000 - 140
    per_loop = {"none": 0, "local_sum": 1}.get(lock_style, None)
    expected_takes = 2 * per_loop if per_loop is not None else 70
    assert counting.acquired == counting.released == expected_takes


def test_a_sleeping_loop_still_counts() -> None:
    namespace: Dict[str, Any] = {"balance": 0}
    loop = build_loop("global", "inplace", "none", False, 1e-6, namespace)
    loop(5, 2)
    assert namespace["balance"] == 10


def test_threads_given_one_namespace_share_its_balance() -> None:
    lock, _ = make_lock("explicit")
    namespace: Dict[str, Any] = {"balance": 0, "lock": lock}
    loop = build_loop("global", "inplace", LOCK_STYLE["explicit"], False, 0.0, namespace)
    threads = [threading.Thread(target=loop, args=(2000, 1)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert namespace["balance"] == 8000


def _async_balance(lock_style: str, lock_factory: Any, tasks: int, n: int) -> int:
    namespace: Dict[str, Any] = {"balance": 0}

    async def main() -> None:
        namespace["lock"] = lock_factory()
        loop = build_loop("global", "read_call_write", lock_style, False, 0.0, namespace, True)
        await asyncio.gather(*(loop(n, 1) for _ in range(tasks)))

    asyncio.run(main())
    return namespace["balance"]


def test_async_loops_with_a_lock_keep_every_update() -> None:
    assert _async_balance("explicit", asyncio.Lock, 3, 100) == 300
    assert _async_balance("context", asyncio.Lock, 3, 100) == 300
    assert _async_balance("local_sum", asyncio.Lock, 3, 100) == 300


def test_async_loop_without_a_lock_loses_updates_at_the_await() -> None:
    # Every task reads, then yields to the others before writing: the writes overwrite each other.
    assert _async_balance("none", lambda: None, 2, 100) < 200


def test_simple_lock_works_as_decorator_and_in_with() -> None:
    inner = CountingLock()
    simple = SimpleLock(inner)

    @simple
    def bump(box: List[int]) -> None:
        assert inner.inner.locked()
        box[0] += 1

    box = [0]
    bump(box)
    with simple:
        assert inner.inner.locked()
    assert not inner.inner.locked()
    assert box == [1] and inner.acquired == inner.released == 2
