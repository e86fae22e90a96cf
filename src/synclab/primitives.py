"""One repeat of an experiment on each primitive: build the workers, release them together,
wait with a bound, and report what the shared memory says afterwards.

Each worker compiles its loop before the start barrier, so set-up is never measured. After
the barrier a worker runs its loop and then, outside the loop, writes the number of
operations it completed into a shared array that travels with the balance: if the balance
never reached a worker, neither does that count, and the parent sees it.
"""

import multiprocessing
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .locks import make_lock
from .loops import build_loop
from .spec import ExperimentSpec

# How long to wait for a stopped worker to go before killing it.
_GRACE_S = 1.0


@dataclass(frozen=True)
class RawRepeat:
    """What one repeat left behind, before any judgement."""

    before: int
    after: Optional[int]  # None when the balance could not be read (a thread host that was killed)
    ops_reported: int  # operations the workers said they completed (return value or clean exit)
    ops_done: int  # operations counted in the shared memory the parent reads
    failed_workers: int  # workers that died, raised, or never reported
    timed_out: bool
    wall_s: float  # from starting the first worker to the last one reaped
    work_s: Optional[float]  # from the release of the workers to the last one's finish


def _work_span(stamps: "List[Tuple[float, float]]") -> Optional[float]:
    finished = [s for s in stamps if s[1] > 0]
    if not finished:
        return None
    return max(end for _, end in finished) - min(start for start, _ in finished)


def _context(spec: ExperimentSpec) -> Any:
    return multiprocessing.get_context(spec.start_method)


def _run_worker(index: int, n: int, amount: int, loop: Any, barrier: Any, timeout: float) -> Tuple[float, float]:
    """Wait for the others, run the loop, and return the (start, end) of the measured span."""
    barrier.wait(timeout)
    start = time.perf_counter()
    loop(n, amount)
    return start, time.perf_counter()


# --- threads: run inside a host process, so that a stuck repeat can still be stopped ---------


def _thread_host(spec: ExperimentSpec, conn: Any) -> None:
    namespace: Dict[str, Any] = {"balance": spec.initial, "lock": make_lock(spec.lock, "thread")}
    loop = build_loop("inplace", spec.lock, False, spec.sleep, namespace)
    barrier = threading.Barrier(spec.workers)
    counts = [0] * spec.workers
    stamps = [(0.0, 0.0)] * spec.workers

    def worker(index: int, amount: int) -> None:
        stamps[index] = _run_worker(index, spec.times, amount, loop, barrier, spec.timeout_s)
        counts[index] = spec.times

    threads = [
        threading.Thread(target=worker, args=(i, amount), daemon=True)
        for i, amount in enumerate(spec.signed_amounts())
    ]
    before = namespace["balance"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = sum(counts)
    conn.send((before, namespace["balance"], done, done, counts.count(0), _work_span(stamps)))
    conn.close()


def run_threads(spec: ExperimentSpec) -> RawRepeat:
    ctx = _context(spec)
    receiver, sender = ctx.Pipe(duplex=False)
    host = ctx.Process(target=_thread_host, args=(spec, sender), daemon=True)
    began = time.perf_counter()
    host.start()
    sender.close()
    report = None
    if receiver.poll(spec.timeout_s):
        try:
            report = receiver.recv()
        except EOFError:  # the host died before reporting
            report = ()
    receiver.close()
    timed_out = report is None
    _reap([host], 0.0 if timed_out else _GRACE_S)
    wall = time.perf_counter() - began
    if not report:
        return RawRepeat(spec.initial, None, 0, 0, spec.workers, timed_out, wall, None)
    before, after, reported, done, failed, work = report
    return RawRepeat(before, after, reported, done, failed, False, wall, work)


# --- processes: the notebook's Process + Value -------------------------------------------------


def _process_worker(
    index: int, spec: ExperimentSpec, amount: int, shared: Any, lock: Any, barrier: Any, counts: Any, stamps: Any
) -> None:
    loop = build_loop("read_modify_write", spec.lock, False, spec.sleep, {"shared": shared, "lock": lock})
    try:
        start, end = _run_worker(index, spec.times, amount, loop, barrier, spec.timeout_s)
    except threading.BrokenBarrierError:
        sys.exit(3)  # another worker never arrived; the parent counts this one as failed
    counts[index] = spec.times
    stamps[2 * index], stamps[2 * index + 1] = start, end


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


def run_processes(spec: ExperimentSpec) -> RawRepeat:
    ctx = _context(spec)
    shared = ctx.Value("i", spec.initial)
    counts = ctx.RawArray("q", spec.workers)
    stamps = ctx.RawArray("d", 2 * spec.workers)
    lock = make_lock(spec.lock, "process", ctx)
    barrier = ctx.Barrier(spec.workers)
    procs = [
        ctx.Process(
            target=_process_worker,
            args=(i, spec, amount, shared, lock, barrier, counts, stamps),
            daemon=True,
        )
        for i, amount in enumerate(spec.signed_amounts())
    ]
    before = shared.value
    began = time.perf_counter()
    deadline = began + spec.timeout_s
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(max(0.0, deadline - time.perf_counter()))
    timed_out = any(proc.is_alive() for proc in procs)
    _reap(procs, 0.0)
    wall = time.perf_counter() - began
    clean = sum(1 for proc in procs if proc.exitcode == 0)
    pairs = [(stamps[2 * i], stamps[2 * i + 1]) for i in range(spec.workers)]
    return RawRepeat(
        before, shared.value, clean * spec.times, sum(counts), spec.workers - clean, timed_out, wall, _work_span(pairs)
    )


# --- pools: one depositing Pool and one withdrawing Pool, starmap, as in the notebook ----------

# The notebook's pool example reaches its Value as a module-level global that children
# inherit through fork. With sharing=inherited the parent fills this before creating the
# pools; a spawned or forkserver child imports this module afresh and finds it empty.
_INHERITED: Dict[str, Any] = {}
_POOL: Dict[str, Any] = {}


def _shared_state(ctx: Any, spec: ExperimentSpec) -> Dict[str, Any]:
    return {
        "shared": ctx.Value("i", spec.initial),
        "counts": ctx.RawArray("q", spec.workers),
        "lock": make_lock(spec.lock, "pool", ctx),
    }


def _pool_init(spec: ExperimentSpec, barrier: Any, state: Optional[Dict[str, Any]]) -> None:
    if state is None:  # sharing=inherited
        if not _INHERITED:
            # What the notebook's module does when a spawned child re-imports it: a fresh Value.
            _INHERITED.update(_shared_state(multiprocessing, spec))
        state = _INHERITED
    namespace = {"shared": state["shared"], "lock": state["lock"]}
    _POOL.update(state, barrier=barrier, loop=build_loop("read_modify_write", spec.lock, True, spec.sleep, namespace))
    _POOL["timeout"] = spec.timeout_s


def _pool_task(index: int, times: int, amount: int) -> Tuple[int, float, float]:
    start, end = _run_worker(index, times, amount, _POOL["loop"], _POOL["barrier"], _POOL["timeout"])
    _POOL["counts"][index] = times
    return times, start, end


def run_pools(spec: ExperimentSpec) -> RawRepeat:
    ctx = _context(spec)
    state = _shared_state(ctx, spec)
    if spec.sharing == "inherited":
        _INHERITED.clear()
        _INHERITED.update(state)
    handed = None if spec.sharing == "inherited" else state
    barrier = ctx.Barrier(spec.workers)
    amounts = spec.signed_amounts()
    groups = [list(range(spec.depositors)), list(range(spec.depositors, spec.workers))]
    before = state["shared"].value
    began = time.perf_counter()
    deadline = began + spec.timeout_s
    pools, pending = [], []
    for group in (g for g in groups if g):
        pool = ctx.Pool(len(group), initializer=_pool_init, initargs=(spec, barrier, handed))
        pools.append(pool)
        pending.append(pool.starmap_async(_pool_task, [(i, spec.times, amounts[i]) for i in group], chunksize=1))
    returned: List[Tuple[int, float, float]] = []
    timed_out = False
    failed = 0
    for result, group in zip(pending, (g for g in groups if g)):
        try:
            returned += result.get(max(0.0, deadline - time.perf_counter()))
        except multiprocessing.TimeoutError:
            timed_out = True
            failed += len(group)
        except Exception:  # a task raised (a broken barrier, an error in the loop)
            failed += len(group)
    for pool in pools:
        if timed_out or failed:
            pool.terminate()
        else:
            pool.close()
        pool.join()
    _INHERITED.clear()
    wall = time.perf_counter() - began
    reported = sum(ops for ops, _, _ in returned)
    span = _work_span([(start, end) for _, start, end in returned])
    return RawRepeat(
        before, state["shared"].value, reported, sum(state["counts"]), failed, timed_out, wall, span
    )


RUNNERS = {"thread": run_threads, "process": run_processes, "pool": run_pools}


def run_repeat(spec: ExperimentSpec) -> RawRepeat:
    return RUNNERS[spec.primitive](spec)
