"""Run an experiment in another interpreter and bring its results back.

The child (``synclab.kernel.child``) imports only synclab's standard-library modules, found through
PYTHONPATH, so the other interpreter needs nothing installed. Every wait is bounded: the
child is killed once it outlives what its repeats can take.
"""

import json
import os
import subprocess
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from synclab.kernel import gil
from synclab.kernel.results import ExperimentResult, RepeatResult
from synclab.kernel.runner import OnRepeat
from synclab.kernel.spec import ConfigError, ExperimentSpec

SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
_START_BOUND_S = 60.0  # interpreter start-up and imports, on a slow machine


class RemoteError(RuntimeError):
    """The other interpreter failed in a way that is not a configuration error."""


def reap(proc: "subprocess.Popen[str]", errors: Any) -> str:
    """Kill the child if it still runs, wait for it, and return what it wrote to its stderr file."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    errors.seek(0)
    text = errors.read()
    errors.close()
    return str(text)


def run_in_interpreter(
    python: str,
    spec: ExperimentSpec,
    on_repeat: Optional[OnRepeat] = None,
    on_env: Optional[Callable[[Dict[str, Any]], None]] = None,
    free_threaded: bool = False,
) -> ExperimentResult:
    """Run ``spec`` under ``python``; on a free-threaded build with ``spec.gil`` set, the child and
    every worker it starts get PYTHON_GIL for it (kernel.gil)."""
    env = gil.child_environment(spec.gil, free_threaded, os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE_ROOT, env.get("PYTHONPATH")) if p)
    # stderr goes to a file, not a pipe: a child that writes a lot there must never stall
    errors = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [python, "-m", "synclab.kernel.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=env,
    )
    bound = _START_BOUND_S + spec.repeats * (spec.timeout_s + 5.0)
    watchdog = threading.Timer(bound, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    runs: List[RepeatResult] = []
    ended: Optional[Dict[str, Any]] = None
    error = None
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(asdict(spec)))
        proc.stdin.close()
        for line in proc.stdout:
            message = json.loads(line)
            if "env" in message and on_env is not None:
                on_env(message["env"])
            elif "repeat" in message:
                runs.append(RepeatResult(**message["repeat"]))
                if on_repeat is not None:
                    on_repeat(runs[-1])
            elif "error" in message:
                error = message["error"]
            elif "end" in message:
                ended = message["end"]
        proc.wait()
    finally:
        watchdog.cancel()
        stderr = reap(proc, errors)
    if error is not None:
        raise ConfigError(error)
    if ended is None:
        tail = " ".join(stderr.strip().splitlines()[-1:]) or f"exit code {proc.returncode}"
        raise RemoteError(f"the experiment under {python} stopped early: {tail}")
    # an import at the child's start-up turns the GIL on before its own watch begins: its
    # warning is on stderr
    modules = gil.merged(ended.get("gil_reenabled_by") or [], gil.reenabled_in(stderr))
    return ExperimentResult(spec, runs, gil_at_start=ended.get("gil_at_start"), gil_reenabled_by=modules)
