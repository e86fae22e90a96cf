"""One repeat of an experiment on each primitive: build the workers, release them together,
wait with a bound, and report what the shared memory says afterwards.

Each worker compiles its loop before the start barrier, so set-up is never measured. After
the barrier a worker runs its loop and then, outside the loop, writes the number of
operations it completed into a shared array that travels with the balance: if the balance
never reached a worker, neither does that count, and the parent sees it.

Threads, thread pools and asyncio tasks run inside a host process: a thread cannot be
killed, a process can, so a repeat that hangs is still stopped at its timeout.
"""

import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from synclab.kernel.locks import LOCK_STYLE, make_async_lock, make_lock
from synclab.kernel.loops import build_loop
from synclab.kernel.spec import ExperimentSpec

# How long to wait for a stopped worker to go before killing it.
_GRACE_S = 1.0
# How long a pool's teardown may take before its workers are killed and its locks freed.
_TEARDOWN_S = 1.0
Span = Tuple[float, float]


@dataclass(frozen=True)
class RawRepeat:
    """What one repeat left behind, before any judgement."""

    before: int
    after: Optional[int]  # None when the balance could not be read (a host that was killed)
    ops_reported: int  # operations the workers said they completed (return value or clean exit)
    ops_done: int  # operations counted in the shared memory the parent reads
    failed_workers: int  # workers that died, raised, or never reported
    timed_out: bool
    wall_s: float  # from starting the first worker to the last one reaped
    work_s: Optional[float]  # from the release of the workers to the last one's finish


def _work_span(stamps: "List[Span]") -> Optional[float]:
    finished = [s for s in stamps if s[1] > 0]
    if not finished:
        return None
    return max(end for _, end in finished) - min(start for start, _ in finished)


def restore_default_start_method() -> None:
    """Undo a default start method that a host process installed for itself (joblib's loky
    workers set "loky", whose processes cannot carry shared memory): start_method=null then
    means the platform's default, as it does everywhere else."""
    if multiprocessing.get_start_method(allow_none=True) not in (None, *multiprocessing.get_all_start_methods()):
        multiprocessing.set_start_method(None, force=True)


def _context(spec: ExperimentSpec) -> Any:
    return multiprocessing.get_context(spec.start_method)


def _set_switch_interval(spec: ExperimentSpec) -> None:
    if spec.switch_interval is not None:
        sys.setswitchinterval(spec.switch_interval)


def _run_worker(n: int, amount: int, loop: Any, barrier: Any, timeout: float) -> Span:
    """Wait for the others, run the loop, and return the (start, end) of the measured span."""
    barrier.wait(timeout)
    start = time.perf_counter()
    loop(n, amount)
    return start, time.perf_counter()


def _reap(processes: "List[Any]", grace: float) -> None:
    """Stop whatever is still running, then make sure every process is joined."""
    for proc in processes:
        proc.join(grace)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(_GRACE_S)
        if proc.is_alive():
            proc.kill()
            proc.join()


def stop_children() -> None:
    """Stop and reap every child process still running: an interrupted repeat's workers, and a
    worker forked at the very instant of the interruption, before multiprocessing recorded it
    (it would wait at its start barrier and keep the process's output open long after it)."""
    _reap(multiprocessing.active_children(), 0.0)
    for pid in _unrecorded_forks():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # killed: it goes at once
        except (ProcessLookupError, ChildProcessError):
            pass


def _unrecorded_forks() -> "List[int]":
    """This process's children that are forked copies of it (the same command line), as Linux's
    /proc lists them; elsewhere none is found. A launcher's own jobs run other commands."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/cmdline", "rb") as handle:
            command = handle.read()
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
            if parent != me:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if handle.read() == command:
                    found.append(pid)
        except (OSError, ValueError, IndexError):
            pass
    return found


# --- in one process: threads, a thread pool, asyncio tasks -------------------------------------

Report = Tuple[int, int, int, int, int, Optional[float]]  # before, after, reported, done, failed, work_s


def _threads_in_host(spec: ExperimentSpec) -> Report:
    lock, _ = make_lock(spec.lock)
    namespace: Dict[str, Any] = {"balance": spec.initial, "lock": lock}
    loop = build_loop("global", spec.increment_used, LOCK_STYLE[spec.lock], False, spec.sleep, namespace)
    barrier = threading.Barrier(spec.workers)
    counts = [0] * spec.workers
    stamps: List[Span] = [(0.0, 0.0)] * spec.workers

    def worker(index: int, amount: int) -> int:
        stamps[index] = _run_worker(spec.times, amount, loop, barrier, spec.timeout_s)
        counts[index] = spec.times
        return spec.times

    before = namespace["balance"]
    amounts = spec.signed_amounts()
    if spec.primitive == "thread_pool":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=spec.workers) as executor:
            futures = [executor.submit(worker, i, amount) for i, amount in enumerate(amounts)]
        reported = sum(f.result() for f in futures if f.exception() is None)
    else:
        threads = [threading.Thread(target=worker, args=(i, a), daemon=True) for i, a in enumerate(amounts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reported = sum(counts)
    return before, namespace["balance"], reported, sum(counts), counts.count(0), _work_span(stamps)


def _asyncio_in_host(spec: ExperimentSpec) -> Report:
    import asyncio

    namespace: Dict[str, Any] = {"balance": spec.initial}
    counts = [0] * spec.workers
    stamps: List[Span] = [(0.0, 0.0)] * spec.workers

    async def main() -> None:
        namespace["lock"] = make_async_lock(spec.lock)
        loop = build_loop("global", spec.increment_used, LOCK_STYLE[spec.lock], False, spec.sleep, namespace, True)
        go = asyncio.Event()
        arrived = [0]

        async def worker(index: int, amount: int) -> None:
            arrived[0] += 1  # a start barrier: every task is created before any is released
            if arrived[0] == spec.workers:
                go.set()
            await go.wait()
            start = time.perf_counter()
            await loop(spec.times, amount)
            stamps[index] = (start, time.perf_counter())
            counts[index] = spec.times

        await asyncio.gather(*(worker(i, a) for i, a in enumerate(spec.signed_amounts())), return_exceptions=True)

    before = namespace["balance"]
    asyncio.run(main())
    done = sum(counts)
    return before, namespace["balance"], done, done, counts.count(0), _work_span(stamps)


def _host(spec: ExperimentSpec, conn: Any) -> None:
    _set_switch_interval(spec)
    run = _asyncio_in_host if spec.primitive == "asyncio" else _threads_in_host
    conn.send(run(spec))
    conn.close()


def run_in_host(spec: ExperimentSpec) -> RawRepeat:
    ctx = _context(spec)
    receiver, sender = ctx.Pipe(duplex=False)
    host = ctx.Process(target=_host, args=(spec, sender), daemon=True)
    began = time.perf_counter()
    host.start()
    sender.close()
    report = None
    try:
        if receiver.poll(spec.timeout_s):
            try:
                report = receiver.recv()
            except EOFError:  # the host died before reporting
                report = ()
    finally:  # also when interrupted: the host never outlives its repeat
        receiver.close()
        timed_out = report is None
        _reap([host], 0.0 if timed_out else _GRACE_S)
    wall = time.perf_counter() - began
    if not report:
        return RawRepeat(spec.initial, None, 0, 0, spec.workers, timed_out, wall, None)
    before, after, reported, done, failed, work = report
    return RawRepeat(before, after, reported, done, failed, False, wall, work)


# --- processes: the notebook's Process + Value -------------------------------------------------


def _value_loop(spec: ExperimentSpec, shared: Any, lock: Any, call_per_op: bool) -> Callable[[int, int], Any]:
    namespace = {"shared": shared, "lock": lock}
    return build_loop("value", spec.increment_used, LOCK_STYLE[spec.lock], call_per_op, spec.sleep, namespace)


def _process_worker(
    index: int, spec: ExperimentSpec, amount: int, shared: Any, lock: Any, barrier: Any, counts: Any, stamps: Any
) -> None:
    _set_switch_interval(spec)
    loop = _value_loop(spec, shared, lock, False)
    try:
        start, end = _run_worker(spec.times, amount, loop, barrier, spec.timeout_s)
    except threading.BrokenBarrierError:
        sys.exit(3)  # another worker never arrived; the parent counts this one as failed
    counts[index] = spec.times
    stamps[2 * index], stamps[2 * index + 1] = start, end


def _final_balance(shared: Any) -> int:
    """The balance once every worker is reaped, read past the Value's own lock: a worker
    stopped at the timeout may have died holding it, and nobody else can write any more."""
    return int(shared.get_obj().value)


def _shared_state(ctx: Any, spec: ExperimentSpec) -> Dict[str, Any]:
    shared = ctx.Value("i", spec.initial)
    lock, release = make_lock(spec.lock, ctx, shared)
    return {"shared": shared, "counts": ctx.RawArray("q", spec.workers), "lock": lock, "release": release}


def run_processes(spec: ExperimentSpec) -> RawRepeat:
    ctx = _context(spec)
    state = _shared_state(ctx, spec)
    shared, counts = state["shared"], state["counts"]
    stamps = ctx.RawArray("d", 2 * spec.workers)
    barrier = ctx.Barrier(spec.workers)
    procs = [
        ctx.Process(
            target=_process_worker,
            args=(i, spec, amount, shared, state["lock"], barrier, counts, stamps),
            daemon=True,
        )
        for i, amount in enumerate(spec.signed_amounts())
    ]
    before = shared.value
    began = time.perf_counter()
    deadline = began + spec.timeout_s
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(max(0.0, deadline - time.perf_counter()))
        timed_out = any(proc.is_alive() for proc in procs)
    finally:
        _reap(procs, 0.0)
        state["release"]()
    wall = time.perf_counter() - began
    clean = sum(1 for proc in procs if proc.exitcode == 0)
    pairs = [(stamps[2 * i], stamps[2 * i + 1]) for i in range(spec.workers)]
    return RawRepeat(
        before, _final_balance(shared), clean * spec.times, sum(counts), spec.workers - clean, timed_out, wall,
        _work_span(pairs),
    )


# --- pools: multiprocessing.Pool (one depositing, one withdrawing) and ProcessPoolExecutor ----

# The notebook's pool example reaches its Value as a module-level global that children
# inherit through fork. With sharing=inherited the parent fills this before creating the
# pools; a spawned or forkserver child imports this module afresh and finds it empty.
_INHERITED: Dict[str, Any] = {}
_POOL: Dict[str, Any] = {}


def _pool_init(spec: ExperimentSpec, barrier: Any, state: Optional[Dict[str, Any]]) -> None:
    _set_switch_interval(spec)
    if state is None:  # sharing=inherited
        if not _INHERITED:
            # What the notebook's module does when a spawned child re-imports it: a fresh Value.
            # A pool worker is daemonic and may not start a Manager's server process, so its
            # fresh lock is a plain one: private to the child either way, like its Value.
            fresh = replace(spec, lock="explicit") if spec.lock == "manager" else spec
            _INHERITED.update(_shared_state(multiprocessing.get_context(), fresh))
        state = _INHERITED
    loop = _value_loop(spec, state["shared"], state["lock"], True)
    _POOL.update(counts=state["counts"], barrier=barrier, loop=loop, timeout=spec.timeout_s)


def _pool_task(index: int, times: int, amount: int) -> Tuple[int, float, float]:
    start, end = _run_worker(times, amount, _POOL["loop"], _POOL["barrier"], _POOL["timeout"])
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
    its own: if it is not over within _TEARDOWN_S, every worker is killed and the locks they
    held are freed, which lets it finish; a pool still stuck after that is reported and left
    to its daemon threads, its workers already gone."""
    teardown = threading.Thread(target=_tear_down, args=(pools, stop), name="synclab-pool-teardown", daemon=True)
    teardown.start()
    teardown.join(_TEARDOWN_S)
    if not teardown.is_alive():
        return
    _reap(workers + _pool_workers(pools), 0.0)
    for pool in pools:
        _free(getattr(getattr(pool, "_inqueue", None), "_rlock", None))
        _free(getattr(getattr(pool, "_outqueue", None), "_wlock", None))
    teardown.join(_TEARDOWN_S)
    if teardown.is_alive():
        sys.stderr.write(f"synclab: a multiprocessing pool did not shut down within {2 * _TEARDOWN_S:g} s; "
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
    _reap(workers + _pool_workers(pools), 0.0)
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
        _reap(list(getattr(executor, "_processes", {}).values()), 0.0)
        executor.shutdown(wait=True)
        raise
    returned = [f.result() for f in finished if f.exception() is None]
    failed = spec.workers - len(returned)
    if pending or failed:
        # A stuck worker cannot be cancelled; stop the executor's processes (3.14 names
        # this terminate_workers(); before it the process table is the only handle).
        _reap(list(getattr(executor, "_processes", {}).values()), 0.0)
    executor.shutdown(wait=True)
    return returned, failed, bool(pending)


def run_pools(spec: ExperimentSpec) -> RawRepeat:
    ctx = _context(spec)
    state = _shared_state(ctx, spec)
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
    span = _work_span([(start, end) for _, start, end in returned])
    return RawRepeat(before, _final_balance(state["shared"]), reported, sum(state["counts"]), failed, timed_out, wall, span)


RUNNERS = {
    "thread": run_in_host,
    "thread_pool": run_in_host,
    "asyncio": run_in_host,
    "process": run_processes,
    "pool": run_pools,
    "process_pool": run_pools,
}


def run_repeat(spec: ExperimentSpec) -> RawRepeat:
    return RUNNERS[spec.primitive](spec)
