"""Run stress tests in another interpreter (``python=3.13t``, or this build with another GIL state)
and bring their results back. Every wait is bounded: the child is killed once it has been silent
for longer than one test can take."""

import json
import os
import subprocess
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional

from synclab.kernel import gil
from synclab.kernel.remote import SOURCE_ROOT, RemoteError, reap
from synclab.kernel.stress.api import StressError
from synclab.kernel.stress.engine import STRIDE_TIMEOUT_S
from synclab.kernel.stress.result import StressResult, from_dict
from synclab.kernel.stress.spec import StressSpec

_START_BOUND_S = 60.0  # interpreter start-up, imports, and importing the user's tests


def run_in_interpreter(python: str, spec: StressSpec, free_threaded: bool,
                       on_result: Optional[Callable[[StressResult], None]] = None,
                       on_env: Optional[Callable[[Dict[str, Any]], None]] = None) -> List[StressResult]:
    env = gil.child_environment(spec.gil, free_threaded, os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE_ROOT, os.getcwd(), env.get("PYTHONPATH")) if p)
    errors = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty child never stalls
    proc = subprocess.Popen([python, "-m", "synclab.kernel.stress.child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
    silence = _START_BOUND_S + spec.time_budget_s + 2 * STRIDE_TIMEOUT_S
    watchdog: List[threading.Timer] = []

    def rearm() -> None:
        if watchdog:
            watchdog[0].cancel()
        timer = threading.Timer(silence, proc.kill)
        timer.daemon = True
        timer.start()
        watchdog[:] = [timer]

    results: List[StressResult] = []
    ended = False
    error = None
    try:
        rearm()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(spec.to_dict()))
        proc.stdin.close()
        for line in proc.stdout:
            rearm()
            message = json.loads(line)
            if "env" in message and on_env is not None:
                on_env(message["env"])
            elif "result" in message:
                results.append(from_dict(message["result"]))
                if on_result is not None:
                    on_result(results[-1])
            elif "error" in message:
                error = message["error"]
            elif "end" in message:
                ended = True
        proc.wait()
    finally:
        if watchdog:
            watchdog[0].cancel()
        stderr = reap(proc, errors)
    if error is not None:
        raise StressError(error)
    if not ended:
        tail = " ".join(stderr.strip().splitlines()[-1:]) or f"exit code {proc.returncode}"
        raise RemoteError(f"the stress tests under {python} stopped early: {tail}")
    return results


def run(spec: StressSpec, on_result: Optional[Callable[[StressResult], None]] = None,
        on_env: Optional[Callable[[Dict[str, Any]], None]] = None) -> List[StressResult]:
    """Run ``spec`` where it asks: in this process, or in the interpreter (and GIL state) it names.
    Raises GilUnavailable for gil=disabled on a build with a GIL, StressError for a bad test."""
    from synclab.kernel.stress.engine import run_spec

    python, free_threaded = gil.target(spec)
    if python is None:
        if on_env is not None:
            from synclab.kernel.env import capture

            on_env(capture(None))
        return run_spec(spec, on_result=on_result)
    return run_in_interpreter(python, spec, free_threaded, on_result=on_result, on_env=on_env)
