"""What every primitive shares: the repeat's raw record, the start method, the switch interval,
the worker's timed loop behind its start barrier, and reaping children with a bound."""

import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from synclab.kernel.locks import LOCK_STYLE, make_lock
from synclab.kernel.loops import build_loop
from synclab.kernel.spec import ExperimentSpec

# How long to wait for a stopped worker to go before killing it.
GRACE_S = 1.0
# How long a pool's teardown may take before its workers are killed and its locks freed.
TEARDOWN_S = 1.0
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
    # the GIL in the host process whose threads ran the loop, asked after the repeat (kernel.gil);
    # None: not known (a host that never reported), or no host (processes and pools: the runner asks its own)
    gil_enabled: Optional[bool] = None
    gil_reenabled_by: Tuple[str, ...] = ()  # modules whose import turned the GIL back on there
    gil_at_start: Optional[bool] = None  # the host's GIL before its loop ran


def work_span(stamps: "List[Span]") -> Optional[float]:
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


def context_of(spec: ExperimentSpec) -> Any:
    return multiprocessing.get_context(spec.start_method)


def set_switch_interval(spec: ExperimentSpec) -> None:
    if spec.switch_interval is not None:
        sys.setswitchinterval(spec.switch_interval)


def run_worker(n: int, amount: int, loop: Any, barrier: Any, timeout: float) -> Span:
    """Wait for the others, run the loop, and return the (start, end) of the measured span."""
    barrier.wait(timeout)
    start = time.perf_counter()
    loop(n, amount)
    return start, time.perf_counter()


def reap(processes: "List[Any]", grace: float) -> None:
    """Stop whatever is still running, then make sure every process is joined."""
    for proc in processes:
        proc.join(grace)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(GRACE_S)
        if proc.is_alive():
            proc.kill()
            proc.join()


def stop_children() -> None:
    """Stop and reap every child process still running: an interrupted repeat's workers, and a
    worker forked at the very instant of the interruption, before multiprocessing recorded it
    (it would wait at its start barrier and keep the process's output open long after it)."""
    reap(multiprocessing.active_children(), 0.0)
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


def value_loop(spec: ExperimentSpec, shared: Any, lock: Any, call_per_op: bool) -> Callable[[int, int], Any]:
    namespace = {"shared": shared, "lock": lock}
    return build_loop("value", spec.increment_used, LOCK_STYLE[spec.lock], call_per_op, spec.sleep, namespace)


def final_balance(shared: Any) -> int:
    """The balance once every worker is reaped, read past the Value's own lock: a worker
    stopped at the timeout may have died holding it, and nobody else can write any more."""
    return int(shared.get_obj().value)


def shared_state(ctx: Any, spec: ExperimentSpec) -> Dict[str, Any]:
    shared = ctx.Value("i", spec.initial)
    lock, release = make_lock(spec.lock, ctx, shared)
    return {"shared": shared, "counts": ctx.RawArray("q", spec.workers), "lock": lock, "release": release}
