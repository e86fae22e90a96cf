"""Benchmark of the stress-test engine (a section of `make bench`), each figure measured side by
side in one run.

1. Samples per second of the issue's CounterIncrement (``self.x += 1`` from two actors, the
   idiom AttributeIncrement) on this interpreter, against a bare loop that builds the same
   stride of fresh states and, without threads, calls actor1, actor2 and the arbiter on each:
   the ratio is the harness's cost per sample. Target: >= 200,000 samples per second.
2. Time to the first lost update of the same test on a free-threaded build with the GIL
   disabled: synclab (its engine in a child interpreter, one-stride runs one after another until
   one shows the interesting outcome, so the figure is an upper bound on the engine's own time)
   against pytest-run-parallel running the same ``x += 1`` on a shared object from its threads
   and asserting the count, once per pytest run, until a run fails. Both are wall times of whole
   processes, interpreter start included. Target: synclab at least 10 times sooner.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

from synclab.kernel.interpreters import Interpreter, discover
from synclab.kernel.stress.api import StressTest
from synclab.kernel.stress.engine import run_stress
from synclab.kernel.stress.loading import load

Row = Tuple[str, float, str]
ROOT = Path(__file__).resolve().parent.parent
TARGET = "synclab.kernel.stress.idioms:AttributeIncrement"
TRIALS = 7  # alternated; the best of each side: this 2-CPU VM has noisy neighbours
BUDGET_S = 0.3
STRIDE = 1000
FIRST_TRIALS = 5  # fresh child interpreters, each timed to its first lost update
FIRST_STRIDES = (1000, 100_000)  # the engine's default, and the stride tests/test_idioms.py uses
PYTEST_BOUND_S = 60.0  # pytest-run-parallel runs are started until one fails or this much time passed

# Run by the free-threaded interpreter: one-stride runs until one shows a lost update.
FIRST_CHILD = '''
import json, sys, time
from synclab.kernel.stress.engine import run_stress
from synclab.kernel.stress.loading import load
[test] = load(sys.argv[1])
loaded = time.perf_counter()
runs = 0
while True:
    runs += 1
    result = run_stress(test, time_budget_s=1e-9, stride=int(sys.argv[2]))
    if result.seen("interesting"):
        break
print(json.dumps({"engine_s": time.perf_counter() - loaded, "runs": runs, "gil_enabled": result.gil_enabled}))
'''

# What a pytest-run-parallel user writes for the same race: one `x += 1` per thread on a shared
# object, then the count asserted once both threads have done theirs.
RACY_PYTEST = '''
import threading


class Box:
    def __init__(self):
        self.x = 0


box = Box()
both_done = threading.Barrier(2)


def test_increment(num_parallel_threads):
    box.x += 1
    both_done.wait(10)
    assert box.x == num_parallel_threads
'''


def _bare(test: StressTest, samples: int) -> float:
    """Seconds the bare loop takes for ``samples`` samples, in strides of fresh states."""
    cls = test.cls
    actor1, actor2 = (getattr(cls, name) for name in test.actors)
    arbiter = cls.arbiter
    started = time.perf_counter()
    for _ in range(samples // STRIDE):
        states = [cls() for _ in range(STRIDE)]
        for state in states:
            actor1(state)
            actor2(state)
            arbiter(state)
    return time.perf_counter() - started


def bench_stress_rate() -> List[Row]:
    [test] = load(TARGET)
    ours: List[float] = []
    bare: List[float] = []
    for _ in range(TRIALS):  # alternate, so drift in the machine hits both alike
        result = run_stress(test, time_budget_s=BUDGET_S, stride=STRIDE)
        ours.append(result.samples_per_s or 0.0)
        bare.append(result.samples / _bare(test, result.samples))
    rate, bare_rate = max(ours), max(bare)
    verdict = "" if rate >= 200_000 else "  BELOW 200,000"
    return [
        (f"stress samples/s CounterIncrement, GIL {sys.version.split()[0]}", rate,
         f"{rate:,.0f} samples/s (target >= 200,000), strides of {STRIDE}, best of {TRIALS}{verdict}"),
        ("stress harness cost per sample vs bare loop", bare_rate / rate,
         f"{1e9 / rate:,.0f} ns vs {1e9 / bare_rate:,.0f} ns per sample (bare: no threads, same states and calls)"),
    ]


def _child_env(extra: Optional[dict] = None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "PYTHON_GIL"}
    env.update({"PYTHON_GIL": "0", **(extra or {})})
    return env


def _synclab_first(python: str, stride: int) -> Tuple[float, float, int]:
    """(wall seconds of the child, seconds its engine ran until the first lost update, one-stride runs)."""
    started = time.perf_counter()
    done = subprocess.run([python, "-c", FIRST_CHILD, TARGET, str(stride)], capture_output=True, text=True,
                          env=_child_env({"PYTHONPATH": str(ROOT / "src")}), timeout=600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-300:])
    found = json.loads(done.stdout)
    if found["gil_enabled"] is not False:
        raise RuntimeError("the GIL was enabled during the run")
    return wall, found["engine_s"], found["runs"]


def _pytest_site() -> Optional[str]:
    """Where this interpreter's pytest and pytest-run-parallel live (pure Python: the free-threaded
    interpreter imports them from there); None when pytest-run-parallel is not installed."""
    try:
        import pytest_run_parallel  # noqa: F401
    except ImportError:
        return None
    return str(Path(pytest_run_parallel.__file__).resolve().parent.parent)


def _pytest_first(python: str, site: str, bound_s: float) -> Tuple[float, int, bool]:
    """(seconds, pytest runs, found): runs started one after another until one fails or the bound."""
    with tempfile.TemporaryDirectory(prefix="synclab-bench-run-parallel-") as tmp:
        (Path(tmp) / "test_racy.py").write_text(RACY_PYTEST)
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: none of synclab's options
        env = _child_env({"PYTHONPATH": site, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                          "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")})
        command = [python, "-m", "pytest", "-q", "-p", "pytest_run_parallel.plugin", "--parallel-threads=2",
                   "-p", "no:cacheprovider", "test_racy.py"]
        warm = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
        if warm.returncode not in (0, 1):  # compiles the plugins' bytecode; neither timed nor counted
            raise RuntimeError((warm.stdout + warm.stderr).strip()[-300:])
        runs, found, started = 0, False, time.perf_counter()
        while not found and time.perf_counter() - started < bound_s:
            runs += 1
            done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
            found = done.returncode == 1 and "assert 1 == 2" in done.stdout  # the count, not anything else
            if done.returncode != 0 and not found:
                raise RuntimeError((done.stdout + done.stderr).strip()[-300:])
        return time.perf_counter() - started, runs, found


def _free_threaded() -> Optional[Interpreter]:
    return next((i for i in discover() if i.supported and i.free_threaded), None)


def bench_time_to_first() -> List[Row]:
    found = _free_threaded()
    if found is None:
        print("bench_time_to_first skipped: no free-threaded interpreter found (see SYNCLAB_PYTHONS)")
        return []
    site = _pytest_site()
    if site is None:
        print("bench_time_to_first skipped: pytest-run-parallel is not installed (pip install -e '.[test]')")
        return []
    rows: List[Row] = []
    walls: List[float] = []
    for stride in FIRST_STRIDES:
        trials = [_synclab_first(found.path, stride) for _ in range(FIRST_TRIALS)]
        wall = statistics.median(t[0] for t in trials)
        inside = statistics.median(t[1] for t in trials)
        runs = statistics.median(t[2] for t in trials)
        walls.append(wall)
        rows.append((f"synclab first lost update {found.version}t no GIL, stride {stride:,}", wall,
                     f"s wall (median of {FIRST_TRIALS} children; {inside:.3f} s of it in the engine, {runs:g} one-stride runs); "
                     f"all: {', '.join(f'{t[0]:.2f}' for t in trials)} s"))
    theirs, runs, hit = _pytest_first(found.path, site, PYTEST_BOUND_S)
    ours = min(walls)
    what = "first failing run" if hit else f"no failing run within {PYTEST_BOUND_S:g} s"
    rows.append((f"pytest-run-parallel first lost update {found.version}t", theirs,
                 f"s wall, {runs} pytest runs, --parallel-threads=2, otherwise its defaults: {what}"))
    ratio = theirs / ours
    note = (f"{'' if hit else '>= '}{ratio:,.0f}x sooner (synclab's best stride, wall times)"
            + ("" if ratio >= 10 else "  BELOW 10x"))
    rows.append(("time to first lost update: pytest-run-parallel / synclab", ratio, note))
    return rows


def bench_stress() -> List[Row]:
    return [*bench_stress_rate(), *bench_time_to_first()]


if __name__ == "__main__":
    for name, value, note in bench_stress():
        print(f"{name:<45} {value:8.3f}  {note}")
