"""Threads, a thread pool and asyncio tasks, inside a host process: a thread cannot be killed,
a process can, so a repeat that hangs is still stopped at its timeout."""

import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from synclab.kernel import gil

from synclab.kernel.locks import LOCK_STYLE, make_async_lock, make_lock
from synclab.kernel.loops import build_loop
from synclab.kernel.primitives.workers import (GRACE_S, RawRepeat, Span, context_of, reap, run_worker, set_switch_interval, work_span)
from synclab.kernel.spec import ExperimentSpec

class HostCounts(NamedTuple):
    """What a host process sends back when its workers are done."""

    before: int
    after: int
    reported: int
    done: int
    failed: int
    work_s: Optional[float]
    gil_enabled: bool = True  # on at any point of the loop: asked before and after it
    gil_at_start: bool = True  # before the loop
    gil_reenabled_by: Tuple[str, ...] = ()


def _threads_in_host(spec: ExperimentSpec) -> HostCounts:
    lock, _ = make_lock(spec.lock)
    namespace: Dict[str, Any] = {"balance": spec.initial, "lock": lock}
    loop = build_loop("global", spec.increment_used, LOCK_STYLE[spec.lock], False, spec.sleep, namespace)
    barrier = threading.Barrier(spec.workers)
    counts = [0] * spec.workers
    stamps: List[Span] = [(0.0, 0.0)] * spec.workers

    def worker(index: int, amount: int) -> int:
        stamps[index] = run_worker(spec.times, amount, loop, barrier, spec.timeout_s)
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
    return HostCounts(before, namespace["balance"], reported, sum(counts), counts.count(0), work_span(stamps))


def _asyncio_in_host(spec: ExperimentSpec) -> HostCounts:
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
    return HostCounts(before, namespace["balance"], done, done, counts.count(0), work_span(stamps))


def _host(spec: ExperimentSpec, conn: Any) -> None:
    set_switch_interval(spec)
    run = _asyncio_in_host if spec.primitive == "asyncio" else _threads_in_host
    with gil.Watch() as watch:
        before = watch.at_start
        counts = run(spec)
    conn.send(counts._replace(gil_enabled=before or gil.is_enabled(), gil_at_start=before,
                              gil_reenabled_by=tuple(watch.modules)))
    conn.close()


def run_in_host(spec: ExperimentSpec) -> RawRepeat:
    """One repeat of threads, a thread pool or asyncio tasks in a fresh host process.

    Guarantees: every worker's loop is built before its start barrier releases them together;
    the parent waits at most ``timeout_s`` for the host's counts, then the host is reaped (killed
    at a timeout) before this returns; a host that dies or hangs gives a RawRepeat with no
    balance (``after`` None) and ``timed_out`` set only when the bound was reached.
    """
    ctx = context_of(spec)
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
        reap([host], 0.0 if timed_out else GRACE_S)
    wall = time.perf_counter() - began
    if not report:  # nothing is known of the GIL in a host that never reported
        return RawRepeat(spec.initial, None, 0, 0, spec.workers, timed_out, wall, None, gil_enabled=None)
    before, after, reported, done, failed, work, gil_on, gil_first, modules = report
    return RawRepeat(before, after, reported, done, failed, False, wall, work, gil_on, modules, gil_first)
