"""``synclab resume SWEEP_DIR``: finish an interrupted sweep in its own directory.

Hydra has no resume of its own, and a sweep launched again numbers its jobs from zero. This
relaunches the sweep recorded in SWEEP_DIR/multirun.yaml (its overrides, launcher and config
directory) into the same directory with ``hydra.sweeper.resume=true``: synclab's sweeper then
runs only the jobs without a complete result, under their original numbers, refuses if the
configuration composes differently now, and the summary is rewritten at the end. A finished
sweep is left as it is.
"""

import argparse
import re
import sys
from pathlib import Path
from typing import List, Optional

from synclab.records.filing import is_complete
from synclab.records.files import MULTIRUN, RESULT, SUMMARY_CSV

EXIT_USAGE = 2
SWEEPER = "hydra_plugins.synclab_sweeper.synclab_sweeper.SynclabSweeper"
# Overrides that resume sets itself.
_OWN = ("hydra.sweep.dir=", "hydra.sweeper.resume=", "hydra.mode=")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", metavar="SWEEP_DIR", help="the directory of an interrupted sweep (holds multirun.yaml)")


def _fail(message: str) -> int:
    sys.stderr.write(f"synclab resume: {message}\n")
    return EXIT_USAGE


def quote(value: str) -> str:
    """A value for a Hydra override, quoted when Hydra's grammar would read it otherwise."""
    if re.fullmatch(r"[\w./:+@-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def config_dir(record: "object") -> Optional[Path]:
    """The primary config directory the sweep was composed from."""
    from omegaconf import OmegaConf

    for source in OmegaConf.select(record, "hydra.runtime.config_sources") or []:
        if source.get("provider") == "main" and source.get("schema") == "file":
            return Path(str(source.get("path")))
    return None


def job_dirs(record: "object", sweep: Path) -> Optional[List[Path]]:
    """The sweep's job directories, when its size and layout tell them without composing
    anything (the basic expansion, directories named by job number)."""
    from omegaconf import OmegaConf

    from synclab.app.callbacks import count_jobs

    subdir = OmegaConf.to_container(record, resolve=False)["hydra"]["sweep"]["subdir"]  # type: ignore[index]
    total = count_jobs(record)  # type: ignore[arg-type]
    if total is None or subdir != "${hydra.job.num}":
        return None
    return [sweep / str(num) for num in range(total)]


def _summary_outdated(sweep: Path, jobs: List[Path]) -> bool:
    """Some result is newer than the summary: a job finished after its driver was interrupted."""
    summary = sweep / SUMMARY_CSV
    if not summary.is_file():
        return True
    written = summary.stat().st_mtime_ns
    return any((job / RESULT).stat().st_mtime_ns > written for job in jobs)


def run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    sweep = Path(args.sweep).resolve()
    if not (sweep / MULTIRUN).is_file():
        return _fail(f"{args.sweep}: not a sweep directory (no {MULTIRUN})")
    record = OmegaConf.load(sweep / MULTIRUN)
    sweeper = OmegaConf.select(record, "hydra.sweeper._target_")
    if sweeper != SWEEPER:
        return _fail(f"{args.sweep}: hydra.sweeper is {sweeper}; only sweeps run with synclab's sweeper can resume")
    conf = config_dir(record)
    if conf is None or not (conf / "config.yaml").is_file():
        return _fail(f"{args.sweep}: the sweep's config directory ({conf}) is gone")
    jobs = job_dirs(record, sweep)
    if jobs is not None and all(is_complete(job) for job in jobs):
        if not _summary_outdated(sweep, jobs):
            print(f"synclab resume: every job of {args.sweep} has a complete result; nothing to do")
            return 0
        from synclab.reports.summary import summarize_sweep  # jobs that ran on after the driver stopped (submitit, Slurm)
        from synclab.app.logs import setup_console

        setup_console()
        answer = OmegaConf.select(record, "hydra.callbacks.report.answer")  # as the sweep's own end would
        summarize_sweep(sweep, table=False, answer_by=None if answer is None else str(answer))
        print(f"synclab resume: every job of {args.sweep} has a complete result; the summary now covers them all")
        return 0
    task = [str(item) for item in OmegaConf.select(record, "hydra.overrides.task") or []]
    hydra = [str(item) for item in OmegaConf.select(record, "hydra.overrides.hydra") or [] if not str(item).startswith(_OWN)]
    argv = ["-m", *task, *hydra, f"hydra.sweep.dir={quote(str(sweep))}", "hydra.sweeper.resume=true"]
    print(f"synclab resume: {args.sweep}: rerunning the jobs without a complete result", flush=True)
    from synclab.app.job import launch

    launch(conf, argv)
    return 0
