"""Ctrl-C and SIGTERM during a run or a sweep: stop cleanly and say what is left to do.

Both signals become a KeyboardInterrupt in the process that runs the jobs. The running job
stops its workers (as a repeat that times out does), leaves ``interrupted.json`` instead of a
result, and the sweep's summary is written for the jobs that finished; ``synclab resume``
reruns the rest. Worker processes forked from the job keep the default meaning of SIGTERM,
so stopping a worker is never mistaken for interrupting the sweep.
"""

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Iterator, Optional

from loguru import logger

from synclab.records.filing import remove_temporary, unfinished
from synclab.records.files import INTERRUPTED, RESULT, write_json_atomic

_STATE: dict = {"pid": None, "signal": None, "sweep": None, "plots": True, "answer": None, "forking": False,
               "raised": False}
_REDELIVER_S = 0.05


def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
    if os.getpid() != _STATE["pid"]:  # a forked worker: the signal's default action
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _STATE["raised"]:
        # The shutdown of the first interruption is under way (stopping workers, marking the
        # job, writing the summary): a second Ctrl-C or SIGTERM must not break it half-way.
        return
    _STATE["signal"] = signum
    if _in_fork_hook(frame):
        # Raised here, Python would print it as an ignored exception and lose it; check()
        # raises it once the repeat is over, and no thread is started in the middle of a fork.
        return
    if _STATE["forking"]:
        # Raised inside a fork hook, the interruption would be swallowed half-way through
        # loguru's hook, leaving its locks held and the next fork deadlocked: send the signal
        # again once the fork is over.
        redeliver = threading.Timer(_REDELIVER_S, _redeliver, (signum,))
        redeliver.daemon = True  # never keeps the process from exiting
        redeliver.start()
        return
    _STATE["raised"] = True
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _redeliver(signum: int) -> None:
    if not _STATE["raised"]:  # check() may have raised it meanwhile: never interrupt twice
        os.kill(os.getpid(), signum)


def _forking(now: bool) -> None:
    if threading.current_thread() is threading.main_thread():  # where signal handlers run
        _STATE["forking"] = now


def _before_fork() -> None:
    _forking(True)


def _after_fork() -> None:
    _forking(False)


_HOOKS = {_forking.__code__, _before_fork.__code__, _after_fork.__code__}


def _in_fork_hook(frame: Optional[FrameType]) -> bool:
    """Whether the signal arrived inside synclab's own fork hooks, before the first one had set
    the forking flag or after the last one cleared it."""
    while frame is not None:
        if frame.f_code in _HOOKS:
            return True
        frame = frame.f_back
    return False


def check() -> None:
    """Raise again an interruption that Python swallowed: raised where Python only prints an
    exception (an at-fork hook, a finalizer), it is lost, and the sweep would run on."""
    if _STATE["signal"] is not None and _STATE["pid"] == os.getpid():
        _STATE["raised"] = True
        raise KeyboardInterrupt(_signal_name())


def install() -> None:
    """Route SIGINT (unless it was ignored on purpose) and SIGTERM to a KeyboardInterrupt here."""
    if _STATE["pid"] is None:  # fork hooks cannot be removed: register them once
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
    _STATE["pid"] = os.getpid()
    signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_signal)


def watch_sweep(sweep_dir: Path, plots: bool = True, answer: Optional[str] = None) -> None:
    """Remember the running sweep, whether its summary has plots and the key of its answer table,
    so an interruption can summarize it as its end would."""
    _STATE["sweep"] = Path(sweep_dir)
    _STATE["plots"] = plots
    _STATE["answer"] = answer


def _signal_name() -> str:
    return signal.Signals(_STATE["signal"] or signal.SIGINT).name


def mark(job_dir: Path) -> None:
    write_json_atomic(job_dir / INTERRUPTED, {
        "status": "interrupted",
        "signal": _signal_name(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })


@contextmanager
def guarding(job_dir: Path) -> Iterator[None]:
    """Around one job: on interruption stop its workers, mark it interrupted, pass the interruption on.

    A job that finishes after its driver was interrupted (submitit and Slurm jobs run on) is
    complete: its result replaces the mark the driver left."""
    try:
        check()
        yield
        (job_dir / INTERRUPTED).unlink(missing_ok=True)
        check()
    except KeyboardInterrupt:
        _stop(job_dir)
        raise
    except Exception as error:
        # a signal whose KeyboardInterrupt Python swallowed can surface as another error (a
        # worker that never started, a broken barrier): it is still the interruption
        if _STATE["signal"] is None or _STATE["pid"] != os.getpid():
            raise
        _stop(job_dir)
        raise KeyboardInterrupt(_signal_name()) from error


def _stop(job_dir: Path) -> None:
    from synclab.kernel.primitives.workers import stop_children

    stop_children()
    if job_dir.is_dir() and not (job_dir / RESULT).exists():
        remove_temporary(job_dir)  # an interruption between creating one and the write's own cleanup
        mark(job_dir)
    logger.warning(f"job interrupted by {_signal_name()}: {job_dir}")


def _quiet_about_cut_finalizers(previous: Any) -> Any:
    """An interruption that lands inside multiprocessing's Finalize() leaves one half made: its
    weak reference is set, its key is not, and when the object it watches goes at exit its call
    fails with a traceback. Such a finalizer has nothing to finalize: that one is dropped; every
    other unraisable error still goes to ``previous``."""

    def hook(unraisable: Any) -> None:
        cut = (type(unraisable.object).__name__ == "Finalize" and not hasattr(unraisable.object, "_key")
               and isinstance(unraisable.exc_value, AttributeError))
        if not cut:
            previous(unraisable)

    return hook


def conclude() -> int:
    """After an interruption reached the top: mark the sweep's unfinished jobs, write its summary
    for what finished, say how to resume; return the exit status (128 + the signal).

    From here on Ctrl-C and SIGTERM are ignored outright: Python gives a signal its default action
    back while it shuts down, and a second one landing then would kill the process with it
    instead of the exit status this returns (an ignored signal stays ignored to the end)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.unraisablehook = _quiet_about_cut_finalizers(sys.unraisablehook)
    status = 128 + int(_STATE["signal"] or signal.SIGINT)
    sweep: Optional[Path] = _STATE["sweep"]
    if sweep is None or not sweep.is_dir():
        sys.stderr.write(f"synclab: interrupted by {_signal_name()}\n")
        return status
    left = unfinished(sweep)
    for job_dir in left.values():
        if not (job_dir / INTERRUPTED).exists():
            mark(job_dir)
    from synclab.reports.summary import summarize_sweep

    try:
        summarize_sweep(sweep, plots=_STATE["plots"], table=False, answer_by=_STATE.get("answer"))
    except Exception as error:  # the finished jobs are safe on disk; the summary can be redone
        logger.warning(f"sweep summary not written ({type(error).__name__}: {error})")
    names = ", ".join(sorted(left, key=lambda name: (len(name), name))) or "none"
    sys.stderr.write(
        f"synclab: sweep interrupted by {_signal_name()}; job(s) left without a result: {names} (jobs not "
        f"started yet are not listed); summary written for the finished ones. Finish it with: "
        f"synclab resume {sweep}\n"
    )
    return status
