"""Hydra callback: every multirun ends with summary.csv, summary.md and plots in its sweep directory.

Configured in conf/config.yaml (``hydra.callbacks.report``), so it runs under any launcher.
Hydra hands ``on_multirun_end`` no job results, and under a remote launcher the per-job hooks
run on the workers, so the summary is read back from the job directories on disk, once, at the
end: a job costs the same whatever the size of its sweep. With the basic launcher on a terminal,
the jobs of the sweep also get a progress bar.
"""

from pathlib import Path
from typing import Any, Dict, Optional

from hydra.experimental.callback import Callback
from loguru import logger
from omegaconf import DictConfig, OmegaConf

from synclab.app import progress

BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# synclab's sweeper expands a sweep exactly as the basic one does (it files and resumes on top)
SWEEPERS = (BASIC_SWEEPER, "hydra_plugins.synclab_sweeper.synclab_sweeper.SynclabSweeper")


def count_jobs(config: DictConfig) -> Optional[int]:
    """How many jobs the basic sweeper will launch, or None when that cannot be told in advance."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        if OmegaConf.select(config, "hydra.sweeper._target_") not in SWEEPERS:
            return None
        params = OmegaConf.select(config, "hydra.sweeper.params") or {}
        arguments = [f"{key}={value}" for key, value in params.items()]
        arguments += list(OmegaConf.select(config, "hydra.overrides.task") or [])
        choices: Dict[str, int] = {}
        for override in OverridesParser.create().parse_overrides(arguments):
            key = override.get_key_element()
            choices[key] = len(list(override.sweep_string_iterator())) if override.is_sweep_override() else 1
        total = 1
        for count in choices.values():
            total *= count
        return total
    except Exception:  # a sweep syntax needing the config loader (glob), or anything unforeseen
        return None


class ClaimCallback(Callback):
    """Claim the run's or the sweep's directory before Hydra writes anything into it (claim.py):
    listed first among the callbacks, so a second writer is refused before any other one runs."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _claim(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _claim(config, "hydra.sweep.dir")


def _claim(config: DictConfig, key: str) -> None:
    from hydra.core.hydra_config import HydraConfig

    from synclab.app import claim

    group, _, name = key.rpartition(".")
    raw = str(OmegaConf.to_container(OmegaConf.select(config, group), resolve=False)[name])
    if "${" in raw.replace("${now:", ""):
        # It may read HydraConfig (${hydra:...}), directly or through another key: set it as the
        # job will. Only then: setting it copies the whole hydra node, a share of a run's start.
        HydraConfig.instance().set_config(config)
    try:
        claim.claim(Path(str(OmegaConf.select(config, key))), key)
    except (claim.DirectoryInUse, OSError) as error:
        raise claim.Refused(error, key) from None


# The callback of the multirun in progress, so that a sweep refused at one of its jobs can be
# removed (refused before its first: Hydra wrote multirun.yaml already) or summarized.
running: Optional["ReportCallback"] = None


class ReportCallback(Callback):
    """Summarize a sweep when it ends; show the sweep's progress while it runs."""

    def __init__(self, plots: bool = True, table: bool = True, answer: Optional[str] = None) -> None:
        self.plots = plots
        self.table = table
        self.answer = answer  # a key to lay the answer table out by (reports.answer); None: no such table
        self._bar: Optional[progress.Bar] = None
        self.sweep_dir: Optional[Path] = None
        self.jobs_ended = 0  # in this process: a refused sweep is summarized only if it ran jobs

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global running
        running = self
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        from synclab.app import interrupt

        interrupt.watch_sweep(Path(str(config.hydra.sweep.dir)), plots=self.plots, answer=self.answer)
        if OmegaConf.select(config, "hydra.launcher._target_") == BASIC_LAUNCHER:
            self._bar = progress.bar("jobs", count_jobs(config))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self.jobs_ended += 1
        if self._bar is not None:
            self._bar.advance()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        from synclab.reports.summary import summarize_sweep  # the readers: only once the sweep is over

        try:
            sweep_dir = Path(str(config.hydra.sweep.dir))
            written = summarize_sweep(sweep_dir, plots=self.plots, table=self.table, answer_by=self.answer)
        except Exception as error:  # the jobs' results are safe on disk; the summary can be redone
            logger.warning(
                f"sweep summary not written ({type(error).__name__}: {error}); "
                f"run `synclab report {config.hydra.sweep.dir} --out {config.hydra.sweep.dir}`"
            )
            return
        logger.info(f"sweep summary: {', '.join(str(path) for path in written)}")
