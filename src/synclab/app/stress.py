"""A stress run from spec to files: run the tests where the spec asks (this process, another
interpreter or GIL state), then write the run's env.json and result.json (``workload: stress``).

One function for every route in (the Hydra job, ``synclab stress``), so that each leaves the same
directory. It imports neither Hydra nor loguru: ``synclab stress`` stays a quick command.
"""

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from synclab.kernel.env import interpreter_record
from synclab.kernel.stress.result import StressResult
from synclab.kernel.stress.spec import StressSpec
from synclab.records.files import ENV, RESULT, write_json_atomic
from synclab.records.resultfile import stress_document


def interpreter_label(env: Mapping[str, Any]) -> str:
    """``CPython 3.13.5t`` for the interpreter an env capture describes."""
    python = env.get("python") or {}
    build = "t" if python.get("free_threaded") else ""
    return f"{python.get('implementation') or 'Python'} {python.get('version') or '?'}{build}"


def run_and_file(spec: StressSpec, out: Path, extra: Optional[Callable[[], Mapping[str, Any]]] = None,
                 on_result: Optional[Callable[[StressResult, str], None]] = None,
                 on_env: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Run ``spec`` and file it in ``out`` (which must exist); return the result.json written.

    ``extra()`` is added to the document once the tests are done (the job's overrides and host,
    say); ``on_result`` hears
    each test as it finishes, with the interpreter's label. Nothing is written when the run is
    refused (StressError, GilUnavailable): env.json comes with the first result, result.json last.
    """
    from synclab.kernel.stress.remote import run

    captured: List[Dict[str, Any]] = []
    results: List[StressResult] = []

    def heard_env(env: Dict[str, Any]) -> None:
        captured.append(env)
        if on_env is not None:
            on_env(env)

    def heard(result: StressResult) -> None:
        if not results:
            write_json_atomic(out / ENV, {**captured[-1], "switch_interval": spec.switch_interval}
                              if spec.switch_interval is not None else captured[-1])
        results.append(result)
        if on_result is not None:
            on_result(result, interpreter_label(captured[-1]) if captured else "")

    run(spec, on_result=heard, on_env=heard_env)
    data = stress_document(spec.to_dict(), results, interpreter_record(captured[-1]) if captured else {})
    data.update(extra() if extra is not None else {})
    write_json_atomic(out / RESULT, data)
    return data

