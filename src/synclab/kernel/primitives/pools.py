"""Pools: two multiprocessing.Pools (one depositing, one withdrawing, starmap, as in the
notebook) and a ProcessPoolExecutor; every wait of their teardown is bounded."""

import multiprocessing
import os
import sys
import threading
import time
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

from synclab.kernel.primitives.workers import (TEARDOWN_S, RawRepeat, context_of, final_balance, reap, run_worker, set_switch_interval, shared_state, value_loop, work_span)
from synclab.kernel.spec import ExperimentSpec

# The notebook's pool example reaches its Value as a module-level global that children
# inherit through fork. With sharing=inherited the parent fills this before creating the
# pools; a spawned or forkserver child imports this module afresh and finds it empty.
_INHERITED: Dict[str, Any] = {}
_POOL: Dict[str, Any] = {}


def _pool_init(spec: ExperimentSpec, barrier: Any, state: Optional[Dict[str, Any]]) -> None:
    set_switch_interval(spec)
    if state is None:  # sharing=inherited
        if not _INHERITED:
            # What the notebook's module does when a spawned child re-imports it: a fresh Value.
            # A pool worker is daemonic and may not start a Manager's server process, so its
            # fresh lock is a plain one: private to the child either way, like its Value.
            fresh = replace(spec, lock="explicit") if spec.lock == "manager" else spec
            _INHERITED.update(shared_state(multiprocessing.get_context(), fresh))
        state = _INHERITED
    loop = value_loop(spec, state["shared"], state["lock"], True)
    _POOL.update(counts=state["counts"], barrier=barrier, loop=loop, timeout=spec.timeout_s)


def _pool_task(index: int, times: int, amount: int) -> Tuple[int, float, float]:
    start, end = run_worker(times, amount, _POOL["loop"], _POOL["barrier"], _POOL["timeout"])
    _POOL["counts"][index] = times
    return times, start, end


def _pool_groups(spec: ExperimentSpec) -> "List[List[int]]":
    if spec.primitive == "process_pool":
        return [list(range(spec.workers))]
    return [g for g in (list(range(spec.depositors)), list(range(spec.depositors, spec.workers))) if g]


def _wait_for_pools(workers: "List[Any]", pending: "List[Any]", deadline: float) -> bool:
    """Wait until every task is done or the deadline; True as soon as a pool worker died.

    multiprocessing.Pool quietly replaces a dead worker and drops its task, whose result would
    then never come: a killed worker would read as a timeout instead of an incomplete repeat.
    Each worker holds one task behind the start barrier, so ``workers``, the pools' workers as
    they were when the tasks were handed out, must all live until their tasks are done."""
    from multiprocessing.connection import wait

    while not all(result.ready() for result in pending):
        left = deadline - time.perf_counter()
        if left <= 0:
            return False
        if any(proc.exitcode is not None for proc in workers):
            return True
        wait([proc.sentinel for proc in workers], timeout=min(left, 0.05))
    return False


def _run_mp_pools(
    ctx: Any, spec: ExperimentSpec, groups: "List[List[int]]", initargs: Tuple[Any, ...], deadline: float
) -> Tuple[List[Tuple[int, float, float]], int, bool]:
    amounts = spec.signed_amounts()
    pools, pending, workers = [], [], []
    for group in groups:
        pool = ctx.Pool(len(group), initializer=_pool_init, initargs=initargs)
        pools.append(pool)
        # before the tasks go out: a worker replaced before this point lost no task
        workers += list(getattr(pool, "_pool", []))
        pending.append(pool.starmap_async(_pool_task, [(i, spec.times, amounts[i]) for i in group], chunksize=1))
    returned: List[Tuple[int, float, float]] = []
    failed, timed_out, died = 0, False, False
    try:
        died = _wait_for_pools(workers, pending, deadline)
        for result, group in zip(pending, groups):
            if not result.ready():
                timed_out = timed_out or not died
                failed += len(group)
                continue
            try:
                returned += result.get(0)
            except Exception:  # a task raised (a broken barrier, an error in the loop)
                failed += len(group)
    except BaseException:  # interrupted: a pool left alone would replace the workers stopped
        _close_pools(pools, workers, stop=True)
        raise
    if died:
        _unjam(pools, workers)
    _close_pools(pools, workers, stop=bool(timed_out or failed))
    return returned, failed, timed_out


def _close_pools(pools: "List[Any]", workers: "List[Any]", stop: bool) -> None:
    """Close the pools (terminate them, with stop) and join them, every wait bounded.

    A worker stopped while it sends its result dies holding the pool's result-queue lock, and
    one stopped in the middle of taking a task holds its task-queue lock; Pool.terminate() and
    join() then wait forever in the pool's handler threads. So the teardown runs in a thread of
    its own: if it is not over within TEARDOWN_S, every worker is killed and the locks they
    held are freed, which lets it finish; a pool still stuck after that is reported and left
    to its daemon threads, its workers already gone."""
    teardown = threading.Thread(target=_tear_down, args=(pools, stop), name="synclab-pool-teardown", daemon=True)
    teardown.start()
    teardown.join(TEARDOWN_S)
    if not teardown.is_alive():
        return
    reap(workers + _pool_workers(pools), 0.0)
    for pool in pools:
        _free(getattr(getattr(pool, "_inqueue", None), "_rlock", None))
        _free(getattr(getattr(pool, "_outqueue", None), "_wlock", None))
    teardown.join(TEARDOWN_S)
    if teardown.is_alive():
        sys.stderr.write(f"synclab: a multiprocessing pool did not shut down within {2 * TEARDOWN_S:g} s; "
                         "its workers were killed and its threads abandoned\n")


def _tear_down(pools: "List[Any]", stop: bool) -> None:
    for pool in pools:
        if stop:
            pool.terminate()
        else:
            pool.close()
        pool.join()


def _pool_workers(pools: "List[Any]") -> "List[Any]":
    return [proc for pool in pools for proc in list(getattr(pool, "_pool", []))]


def _free(lock: Any) -> None:
    """Release a lock that a killed worker died holding; nobody alive holds it once every worker
    is stopped (the pool's own threads take theirs for an instant)."""
    if lock is None:
        return
    if lock.acquire(timeout=0.1):
        lock.release()
        return
    try:
        lock.release()
    except ValueError:  # released meanwhile: nothing was jammed
        pass


def _unjam(pools: "List[Any]", workers: "List[Any]") -> None:
    """Stop every worker of pools in which one died, and free the pools' task-queue locks.

    A worker killed while it waited for a task dies holding its pool's task-queue lock, and
    may have read half a task from the queue's pipe: Pool.terminate() would then wait for that
    lock forever, or choke on the other half. Once every worker is stopped, whoever holds the
    lock is dead and nobody will read the pipe, so the lock is released and the pipe emptied."""
    reap(workers + _pool_workers(pools), 0.0)
    for pool in pools:
        inqueue = getattr(pool, "_inqueue", None)
        if inqueue is None:
            continue
        _free(getattr(inqueue, "_rlock", None))
        _drain(inqueue._reader.fileno())


def _drain(fd: int) -> None:
    """Throw away whatever is left in a pipe, without blocking."""
    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 1 << 16):
            pass
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, blocking)


def _run_executor(
    ctx: Any, spec: ExperimentSpec, initargs: Tuple[Any, ...], deadline: float
) -> Tuple[List[Tuple[int, float, float]], int, bool]:
    from concurrent.futures import ProcessPoolExecutor, wait

    executor = ProcessPoolExecutor(spec.workers, mp_context=ctx, initializer=_pool_init, initargs=initargs)
    amounts = spec.signed_amounts()
    futures = [executor.submit(_pool_task, i, spec.times, amounts[i]) for i in range(spec.workers)]
    try:
        finished, pending = wait(futures, timeout=max(0.0, deadline - time.perf_counter()))
    except BaseException:  # interrupted: stop the executor's processes, as on a timeout
        reap(list(getattr(executor, "_processes", {}).values()), 0.0)
        executor.shutdown(wait=True)
        raise
    returned = [f.result() for f in finished if f.exception() is None]
    failed = spec.workers - len(returned)
    if pending or failed:
        # A stuck worker cannot be cancelled; stop the executor's processes (3.14 names
        # this terminate_workers(); before it the process table is the only handle).
        reap(list(getattr(executor, "_processes", {}).values()), 0.0)
    executor.shutdown(wait=True)
    return returned, failed, bool(pending)


def run_pools(spec: ExperimentSpec) -> RawRepeat:
    """One repeat of two multiprocessing.Pools (``starmap``, as in the notebook) or a
    ProcessPoolExecutor.

    Guarantees: every pool worker waits at one start barrier; the parent waits at most
    ``timeout_s`` for the tasks, and every wait of the teardown is bounded: past TEARDOWN_S the
    workers are killed and the locks a killed worker held are freed, so this always returns,
    with every worker reaped.
    """
    ctx = context_of(spec)
    state = shared_state(ctx, spec)
    if spec.sharing == "inherited":
        _INHERITED.clear()
        _INHERITED.update(state)
    handed = None if spec.sharing == "inherited" else {k: v for k, v in state.items() if k != "release"}
    initargs = (spec, ctx.Barrier(spec.workers), handed)
    before = state["shared"].value
    began = time.perf_counter()
    deadline = began + spec.timeout_s
    try:
        if spec.primitive == "process_pool":
            returned, failed, timed_out = _run_executor(ctx, spec, initargs, deadline)
        else:
            returned, failed, timed_out = _run_mp_pools(ctx, spec, _pool_groups(spec), initargs, deadline)
    finally:
        _INHERITED.clear()
        state["release"]()
    wall = time.perf_counter() - began
    reported = sum(ops for ops, _, _ in returned)
    span = work_span([(start, end) for _, start, end in returned])
    return RawRepeat(before, final_balance(state["shared"]), reported, sum(state["counts"]), failed, timed_out, wall, span)
