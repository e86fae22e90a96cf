"""The notebook's processes: workers sharing a multiprocessing.Value, started together
behind a barrier, reaped with a bound."""

import sys
import threading
import time
from typing import Any

from synclab.kernel.primitives.workers import (RawRepeat, context_of, final_balance, reap, run_worker, set_switch_interval, shared_state, value_loop, work_span)
from synclab.kernel.spec import ExperimentSpec

def _process_worker(
    index: int, spec: ExperimentSpec, amount: int, shared: Any, lock: Any, barrier: Any, counts: Any, stamps: Any
) -> None:
    set_switch_interval(spec)
    loop = value_loop(spec, shared, lock, False)
    try:
        start, end = run_worker(spec.times, amount, loop, barrier, spec.timeout_s)
    except threading.BrokenBarrierError:
        sys.exit(3)  # another worker never arrived; the parent counts this one as failed
    counts[index] = spec.times
    stamps[2 * index], stamps[2 * index + 1] = start, end


def run_processes(spec: ExperimentSpec) -> RawRepeat:
    """One repeat of the notebook's processes on a shared multiprocessing.Value.

    Guarantees: the workers start together behind a barrier; the parent waits at most
    ``timeout_s`` for all of them, then stops and reaps every one before this returns; each
    worker's completed operations are counted in shared memory beside the balance, so a worker
    that died, hung or wrote to memory of its own is seen in the counts, not assumed.
    """
    ctx = context_of(spec)
    state = shared_state(ctx, spec)
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
        reap(procs, 0.0)
        state["release"]()
    wall = time.perf_counter() - began
    clean = sum(1 for proc in procs if proc.exitcode == 0)
    pairs = [(stamps[2 * i], stamps[2 * i + 1]) for i in range(spec.workers)]
    return RawRepeat(
        before, final_balance(shared), clean * spec.times, sum(counts), spec.workers - clean, timed_out, wall,
        work_span(pairs),
    )
