"""One repeat of an experiment on each primitive: build the workers, release them together,
wait with a bound, and report what the shared memory says afterwards.

Each worker compiles its loop before the start barrier, so set-up is never measured. After
the barrier a worker runs its loop and then, outside the loop, writes the number of
operations it completed into a shared array that travels with the balance: if the balance
never reached a worker, neither does that count, and the parent sees it.

Threads, thread pools and asyncio tasks run inside a host process: a thread cannot be
killed, a process can, so a repeat that hangs is still stopped at its timeout.
"""

from synclab.kernel.primitives.host import run_in_host
from synclab.kernel.primitives.pools import run_pools
from synclab.kernel.primitives.processes import run_processes
from synclab.kernel.primitives.workers import RawRepeat
from synclab.kernel.spec import ExperimentSpec

RUNNERS = {
    "thread": run_in_host,
    "thread_pool": run_in_host,
    "asyncio": run_in_host,
    "process": run_processes,
    "pool": run_pools,
    "process_pool": run_pools,
}


def run_repeat(spec: ExperimentSpec) -> RawRepeat:
    """One repeat on the spec's primitive: always returns, within the repeat's bound, with every
    child it started reaped."""
    return RUNNERS[spec.primitive](spec)
