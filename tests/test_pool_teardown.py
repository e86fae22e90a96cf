"""Hundreds of pool repeats stopped at once by a tiny timeout: a worker stopped while it sent
its result (or took a task) used to leave Pool.terminate() waiting forever, about one run in 80.

The repeats run in a few processes at a time, so that the suite pays seconds for them, and
every process gets a bounded wait: a teardown that hangs fails the test instead of the suite."""

import subprocess
import sys
import time

from conftest import ROOT, cli_env

PROCESSES = 4
REPEATS = 150  # per process: 600 in all, where a one-in-240-repeats hang shows with 92% odds
WAIT_S = 60

SCRIPT = """
import sys
from synclab.kernel.runner import run_experiment
from synclab.kernel.spec import ExperimentSpec

spec = ExperimentSpec(primitive="pool", workers=2, times=100000, timeout_s=0.001, repeats=int(sys.argv[1]))
print(" ".join(sorted({run.outcome for run in run_experiment(spec).runs})))
"""


def test_pool_repeats_stopped_at_their_timeout_never_hang_the_teardown() -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(REPEATS)], cwd=ROOT, env=cli_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    deadline = time.monotonic() + WAIT_S
    done = []
    try:
        for proc in procs:
            done.append(proc.communicate(timeout=max(0.1, deadline - time.monotonic())))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, (out, err) in zip(procs, done):
        assert proc.returncode == 0, err[-2000:]
        assert set(out.split()) <= {"timeout", "incomplete"}, out
        assert "did not shut down" not in err, err[-2000:]
