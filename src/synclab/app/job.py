"""The Hydra application: compose a config, run it through the runner, file the results.

Everything Hydra-specific stays here and in config.py; the runner receives a frozen spec.
"""

import gc
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Tuple

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from loguru import logger
from omegaconf import DictConfig

from synclab import __version__
from synclab.app import claim, interrupt, progress
from synclab.app.config import describe_override_error, describe_too_long, to_spec, to_stress_spec, workload_of
from synclab.app.logs import ensure_console, job_log, setup_console
from synclab.kernel import gil
from synclab.kernel.corun import CoRun
from synclab.kernel.env import PATCH, capture, git_diff, interpreter_record, prefetch, source_dir
from synclab.kernel.primitives.workers import restore_default_start_method
from synclab.kernel.results import RepeatResult
from synclab.kernel.runner import run_experiment
from synclab.kernel.spec import ConfigError, ExperimentSpec, shorten, validate
from synclab.records.filing import clear_attempt, pack, unfinished
from synclab.records.files import ENV, INTERRUPTED, LOG, MULTIRUN, RESULT, write_bytes_atomic, write_json_atomic
from synclab.records.resultfile import document
from synclab.reports.table import format_repeats, shown_path

EXIT_FAULT = 1
EXIT_CONFIG = 2


def _log_repeat(run: RepeatResult) -> None:
    drift = "-" if run.drift is None else f"{run.drift:+d}"
    logger.info(
        f"repeat {run.repeat}: before={run.before} after={run.after} expected={run.expected} "
        f"drift={drift} ops={run.ops_done}/{run.ops_expected} work_s={run.work_s} outcome={run.outcome}"
    )


def _discard(out: Path) -> None:
    """Remove Hydra's record from a job directory that holds nothing else: a refused config
    leaves no output. A claimed directory itself goes when its claim is released, and only if
    the claim created it."""
    if out.is_dir() and {p.name for p in out.iterdir()} <= {".hydra", claim.LOCK}:
        shutil.rmtree(out / ".hydra", ignore_errors=True)
        if claim.held(out) is None:
            _remove_dir(out)


def _remove_dir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:  # not empty, or gone already
        pass


def _clear_unfinished(out: Path) -> None:
    """After a fault, leave nothing half-written in a job directory without a result: its log,
    environment and Hydra's record (a full disk leaves a 0-byte .hydra/config.yaml) go; a job
    marked interrupted keeps its mark for resume."""
    if not out.is_dir() or (out / RESULT).exists() or (out / INTERRUPTED).exists():
        return
    try:
        clear_attempt(out)
    except OSError:
        pass
    _discard(out)


def _job_env(spec: ExperimentSpec, env: Dict[str, Any]) -> Dict[str, Any]:
    """The capture of the interpreter that ran the loop, with the switch interval it used."""
    if spec.switch_interval is not None:
        env = {**env, "switch_interval": spec.switch_interval}
    return env


def _write_env(out: Path, env: Dict[str, Any]) -> None:
    """env.json, and beside it the uncommitted changes of the checkout that ran, as a patch."""
    write_json_atomic(out / ENV, env)
    git = env.get("git") or {}
    diff = git_diff(source_dir()) if git.get("patch") else None
    if diff:
        write_bytes_atomic(out / PATCH, diff)


def _warn_gil(record: Dict[str, Any], spec: ExperimentSpec) -> None:
    if record["came_back"]:
        why = ", ".join(record["reenabled_by"]) or "a cause the interpreter did not report"
        logger.warning(f"the GIL came back on during the run (import of {why}): the repeats after it ran with "
                       "the GIL and cannot claim 'GIL disabled'")
    elif spec.gil == "disabled" and record["enabled"]:
        logger.warning("gil=disabled, yet the GIL was on: the run is recorded as run with the GIL")


def _refuse_chdir() -> None:
    if HydraConfig.get().job.chdir:
        raise ConfigError("hydra.job.chdir: must stay false; synclab takes every path from the job's output_dir")


def _refuse_used(out: Path) -> None:
    if (out / RESULT).exists():
        raise ConfigError(f"hydra.run.dir: {out} already holds a {RESULT}; refusing to overwrite it")


def run_stress_job(cfg: DictConfig, out: Path) -> Dict[str, Any]:
    """A workload=stress job: run the tests stress.target names (where python and gil ask), print
    each histogram as it ends, and write env.json, result.json (workload stress) and the log."""
    from synclab.app.stress import run_and_file
    from synclab.kernel.stress.api import StressError
    from synclab.reports.histogram import format_histogram, format_summary, verdict

    try:
        _refuse_chdir()
        spec = to_stress_spec(cfg)
        gil.target(spec)  # gil=disabled on a GIL build, or a python= not found: refused before anything runs
        _refuse_used(out)
    except ConfigError:
        _discard(out)
        raise

    def heard(result: Any, label: str) -> None:
        shown = result.to_dict()
        logger.info(f"{result.test}: {result.samples} samples in {result.seconds:.2f} s on {label}: "
                    + " ".join(f"{e.outcome!r}={e.count} ({e.grade})" for e in result.outcomes))
        logger.info(f"{result.test}: {verdict(shown)}")
        if result.error:
            last = result.error.strip().splitlines()[-1]
            logger.warning(f"{result.test}: an actor or the arbiter raised ({last}); the first traceback is in "
                           f"{RESULT} and below")
        print(format_histogram(shown, label), flush=True)
        interrupt.check()

    with job_log(out / LOG), CoRun(str(out)) as beside:
        logger.info(f"synclab {__version__}: workload=stress target={spec.target} pattern={spec.pattern} "
                    f"time_budget_s={spec.time_budget_s} stride={spec.stride} threads_per_actor={spec.threads_per_actor} "
                    f"python={spec.python} gil={spec.gil} -> {shown_path(out)}")
        extra = lambda: {"overrides": list(HydraConfig.get().overrides.task), "host": beside.finish()}  # noqa: E731
        try:
            data = run_and_file(spec, out, extra=extra, on_result=heard)
        except StressError as error:
            _clear_unfinished(out)
            raise ConfigError(str(error)) from None
    print(format_summary(data["tests"]), flush=True)
    return data


def run_job(cfg: DictConfig) -> Dict[str, Any]:
    """One Hydra job: validate, run every repeat, write env.json, result.json and the log."""
    out = Path(HydraConfig.get().runtime.output_dir)
    restore_default_start_method()  # a launcher's worker may have set its own
    try:
        if workload_of(cfg) == "stress":
            return run_stress_job(cfg, out)
        _refuse_chdir()
        spec = validate(to_spec(cfg))
        python, free_threaded = gil.target(spec)  # probes interpreters only when python= is set
        _refuse_used(out)
    except ConfigError:
        _discard(out)
        raise
    with job_log(out / LOG), progress.bar("repeats", spec.repeats) as bar, CoRun(str(out)) as beside:
        on_repeat = lambda run: (_log_repeat(run), bar.advance(), beside.sample(), interrupt.check())  # noqa: E731
        logger.info(
            f"synclab {__version__}: primitive={spec.primitive} lock={spec.lock} workers={spec.workers} "
            f"times={spec.times} amount={spec.amount} initial={spec.initial} sleep={spec.sleep} "
            f"repeats={spec.repeats} start_method={spec.start_method} -> {shown_path(out)}"
        )
        captured: List[Dict[str, Any]] = []
        if python is None:
            captured.append(capture(spec.start_method))
            _write_env(out, _job_env(spec, captured[0]))
            result = run_experiment(spec, on_repeat=on_repeat)
        else:
            from synclab.kernel.remote import run_in_interpreter

            logger.info(f"running under {python}" + (f" with gil={spec.gil}" if spec.gil else ""))
            on_env = lambda env: (captured.append(env), _write_env(out, _job_env(spec, env)))  # noqa: E731
            result = run_in_interpreter(python, spec, on_repeat=on_repeat, on_env=on_env, free_threaded=free_threaded)
        data = document(result)
        if captured:  # compare and replay read it: a run on another interpreter measured something else
            data["interpreter"] = interpreter_record(captured[-1])
            # what the repeats saw, not what the start-up said (null: not known for every repeat)
            data["interpreter"]["gil_enabled"] = data["gil"]["enabled"]
        _warn_gil(data["gil"], spec)
        data["overrides"] = list(HydraConfig.get().overrides.task)  # the job's own keys, for reports
        data["host"] = beside.finish()  # other synclab jobs seen on this host, and its load
        if data["host"]["co_jobs"]:
            logger.warning(f"ran beside {data['host']['co_jobs']} other synclab job(s) on this host: "
                           "they compete for cores and disturb what this job measures")
        write_json_atomic(out / RESULT, data)
        logger.info("outcomes: " + " ".join(f"{name}={count}" for name, count in data["summary"]["outcomes"].items()))
    from synclab.reports.render import format_job

    print(format_repeats(result.runs), flush=True)
    print(format_job(data, path=out.name), end="", flush=True)
    return data


def _config_exit(message: str) -> "NoReturn":
    problem = _discard_refused_sweep()
    if problem:
        logger.warning(problem)
    claim.release_all()
    sys.stderr.write(f"synclab: configuration error: {message}\n")
    sys.exit(EXIT_CONFIG)


def refuse_exit(message: str) -> "NoReturn":
    """Refused before anything was written (a directory another synclab process holds)."""
    claim.release_all()
    sys.stderr.write(f"synclab: {message}\n")
    sys.exit(EXIT_CONFIG)


def fault_exit(error: OSError, key: Optional[str] = None) -> "NoReturn":
    """A write the system refused (a full disk, a directory that cannot be created or written):
    one line naming the path and the cause; what the fault left half-written is removed, and a
    sweep keeps its finished jobs, their summary and the way to resume it."""
    from synclab.app import callbacks

    path = error.filename or next((held.directory for held in claim.claims()), None)
    sweep = None if callbacks.running is None else callbacks.running.sweep_dir
    for held in claim.claims():
        jobs = unfinished(held.directory).values() if held.key == "hydra.sweep.dir" else [held.directory]
        for job_dir in jobs:
            _clear_unfinished(job_dir)
    problem = _discard_refused_sweep()
    where = f"{shorten(str(path))}: " if path is not None else ""
    cause = error.strerror or str(error)
    message = f"{key}: {where}unusable as a directory ({cause})" if key else f"{where}{cause}"
    if sweep is not None and claim.held(sweep) is not None and (sweep / MULTIRUN).is_file():
        message += "; " + (problem or "the summary covers the finished jobs")
        message += f"; once the cause is gone, finish it with: synclab resume {sweep}"
    claim.release_all()
    sys.stderr.write(f"synclab: {message}\n")
    sys.exit(EXIT_FAULT)


def _discard_refused_sweep() -> Optional[str]:
    """A sweep refused before any job ran removes the multirun.yaml it wrote (and, on release,
    the directories it created), never what it found there; one refused at a later job gets
    its summary for the jobs that did finish. Returns why the summary could not be written."""
    from synclab.app import callbacks

    running = callbacks.running
    sweep = None if running is None else running.sweep_dir
    owned = None if sweep is None else claim.held(sweep)
    if running is None or sweep is None or owned is None or not sweep.is_dir():
        return None  # not this process's sweep directory: nothing of it is touched
    made = {p.name for p in sweep.iterdir() if owned.is_new(p.name)} - {claim.LOCK}
    if made == {MULTIRUN}:
        (sweep / MULTIRUN).unlink()
    elif running.jobs_ended and any(sweep.glob(f"*/{RESULT}")):
        from synclab.reports.summary import summarize_sweep

        try:
            summarize_sweep(sweep, plots=running.plots, table=False, answer_by=running.answer)
        except OSError as error:  # the finished jobs are safe on disk; the summary can be redone
            where = f"{shorten(str(error.filename))}: " if error.filename else ""
            return f"sweep summary not written ({where}{error.strerror or error})"
        except Exception as error:
            return f"sweep summary not written ({type(error).__name__}: {error})"
    return None


# The collector's thresholds from before run.py raised them for importing and composing.
_gc_thresholds: Optional[Tuple[int, ...]] = None


def _hydra_task(cfg: DictConfig) -> Any:
    # A SystemExit passes through Hydra's job runner untouched, so a refused config stops
    # here with its one line, before Hydra adds a report of its own.
    if _gc_thresholds is not None:  # the run itself collects as the interpreter normally does
        gc.set_threshold(*_gc_thresholds)
    ensure_console()
    hydra = HydraConfig.get()
    out = Path(hydra.runtime.output_dir)
    try:
        with interrupt.guarding(out):
            data = run_job(cfg)
    except ConfigError as error:
        _config_exit(str(error))
    except OSError:
        _clear_unfinished(out)
        raise
    if hydra.mode == RunMode.MULTIRUN:  # the job's files travel back to the sweep's driver
        return pack(out, str(hydra.sweep.subdir))
    return data


def launch(config_dir: Path, argv: Optional[list] = None, gc_thresholds: Optional[Tuple[int, ...]] = None) -> None:
    """Run Hydra's command line on ``config_dir``; turn configuration errors into one line and exit 2.
    ``gc_thresholds``: the collector's own, restored when a job starts, if the caller raised them."""
    global _gc_thresholds
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    _gc_thresholds = gc_thresholds
    full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's multi-line report
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    prefetch()
    setup_console()
    args = sys.argv[1:]
    refusal = _existing_run_dir(args)
    if refusal:
        _config_exit(refusal)
    entry = hydra.main(version_base="1.3", config_path=str(config_dir), config_name="config")(_hydra_task)
    interrupt.install()
    try:
        entry()
    except KeyboardInterrupt:
        sys.exit(interrupt.conclude())
    except claim.Refused as refused:
        if isinstance(refused.error, OSError):
            fault_exit(refused.error, refused.key)
        refuse_exit(str(refused.error))
    except (HydraException, OmegaConfBaseException) as error:
        if full_error:
            raise
        _config_exit(describe_override_error(args, error, Path(config_dir)))
    except ValueError as error:
        # Hydra rejects some overrides (`lock=null`, `=3`) with a bare ValueError
        if full_error or not _raised_by_hydra(error):
            raise
        _config_exit(describe_override_error(args, error, Path(config_dir)))
    except OSError as error:
        if full_error:
            raise
        too_long = None if claim.claims() else describe_too_long(args, error, Path(config_dir))
        if too_long:  # an option name no file can have: looked up while composing
            _config_exit(too_long)
        fault_exit(error)
    finally:
        claim.release_all()


def _raised_by_hydra(error: BaseException) -> bool:
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and f"{os.sep}hydra{os.sep}" in frames[-1].filename


def _existing_run_dir(args: "list[str]") -> Optional[str]:
    """Refuse an empty output directory, and a single run into a directory that holds a result,
    before Hydra creates or rewrites anything."""
    pairs = [(key.lstrip("+"), value) for key, sep, value in (arg.partition("=") for arg in args) if sep]
    for key, value in pairs:
        if key in ("hydra.run.dir", "hydra.sweep.dir") and not value.strip():
            return f"{key}: must name a directory (empty would write into the current one)"
    if any(arg in ("-m", "--multirun") for arg in args):
        return None  # a sweep's directory is checked by synclab's sweeper
    for key, value in pairs:
        if key == "hydra.run.dir" and "${" not in value:
            out = Path(value)
            try:
                used = (out / RESULT).exists()
            except OSError:  # a name the system refuses: the directory's claim names the cause
                used = False
            if used:
                return f"hydra.run.dir: {out} already holds a {RESULT}; refusing to overwrite it"
    return None
