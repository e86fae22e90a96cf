"""The driver's side of a sweep under any launcher: file what jobs return, resume what is missing.

``hydra_plugins.synclab_sweeper`` wraps whatever launcher the sweep uses (basic, joblib,
submitit, Ray) in a FilingLauncher. Each returned job is filed in the driver's sweep directory
(see filing.py), co-running jobs are reported once, and on resume only the jobs without a
complete result are launched, under their original job numbers, so nothing complete is
overwritten and nothing runs twice.
"""

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from loguru import logger
from omegaconf import DictConfig, OmegaConf, open_dict

from synclab.records.filing import JobFiles, clear_attempt, file_job, is_complete
from synclab.records.files import MULTIRUN, NOT_RUN, RESULT, write_json_atomic, write_text_atomic



class ResumeRefused(HydraException):
    """The sweep on disk and the sweep composed now are not the same sweep."""


def sweep_dir_of(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir))


def _plain(config: DictConfig) -> Any:
    """The experiment's part of a config, unresolved, without Hydra's own section."""
    data = OmegaConf.to_container(config, resolve=False, enum_to_str=True)  # as multirun.yaml spells a choice
    assert isinstance(data, dict)
    data.pop("hydra", None)
    return data


def _first_difference(old: Any, new: Any, prefix: str = "") -> Optional[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            found = _first_difference(old.get(key, "<missing>"), new.get(key, "<missing>"), f"{prefix}{key}.")
            if found:
                return found
        return None
    if old != new:
        return f"{prefix.rstrip('.')} was {old!r}, is now {new!r}"
    return None


class SweepRefused(HydraException):
    """A job of the sweep has a configuration synclab refuses: found before any job runs."""


# Jobs whose composed configuration is kept from the check to the launch, per batch: each is
# about 100 KB, and composing one again costs about as much as running a tiny job.
KEEP_COMPOSED = 256


def validate_jobs(
    config_loader: Any,
    master_config: DictConfig,
    batch: Sequence[Sequence[str]],
    keep: Optional[Dict[Tuple[str, ...], DictConfig]] = None,
    not_run: Optional[Dict[Tuple[str, ...], str]] = None,
) -> None:
    """Compose every job of a batch (as Hydra's own check does) and apply synclab's checks too,
    so that a bad value in the tenth job stops the sweep before the first one starts. With
    ``keep``, up to KEEP_COMPOSED composed jobs are kept there for the launcher to reuse.

    A job whose combination does not exist (gil=disabled on a build with the GIL, in a sweep
    across interpreters and GIL states) is not an error: with ``not_run`` it is put there with
    the reason, and the launcher leaves it out."""
    from synclab.app.config import to_spec, to_stress_spec, workload_of
    from synclab.kernel import gil
    from synclab.kernel.spec import ConfigError, validate

    for overrides in batch:
        job = config_loader.load_sweep_config(master_config=master_config, sweep_overrides=list(overrides))
        task = OmegaConf.masked_copy(job, [key for key in job.keys() if key != "hydra"])
        try:
            spec: Any = validate(to_spec(task))
            if workload_of(task) == "stress":
                spec = to_stress_spec(task)  # its target is imported by the job, on the job's interpreter
        except ConfigError as error:
            raise SweepRefused(f"{error} (the sweep's job {' '.join(overrides)}); no job was run") from None
        try:
            gil.target(spec)  # each interpreter is probed once (kernel.interpreters keeps its answer)
        except gil.GilUnavailable as error:
            if not_run is None:
                raise SweepRefused(f"{error} (the sweep's job {' '.join(overrides)}); no job was run") from None
            not_run[tuple(overrides)] = str(error)
            continue
        except ConfigError:  # an interpreter not found here: the job's own machine decides, at its start
            pass
        if keep is not None and len(keep) < KEEP_COMPOSED:
            keep[tuple(overrides)] = job


def check_fresh(config: DictConfig) -> None:
    """A new sweep never writes into an earlier one: Hydra would rewrite its multirun.yaml and
    its jobs' .hydra/ records before any job could refuse, leaving results under the wrong config."""
    sweep = sweep_dir_of(config)
    if (sweep / MULTIRUN).is_file() or any(sweep.glob(f"*/{RESULT}")):
        raise ResumeRefused(
            f"hydra.sweep.dir: {sweep} already holds a sweep; finish it with `synclab resume {sweep}` "
            f"or choose another directory"
        )


def check_resumable(config: DictConfig) -> None:
    """Refuse to resume when conf/ no longer composes the sweep's own configuration."""
    record = sweep_dir_of(config) / MULTIRUN
    if not record.is_file():
        raise ResumeRefused(f"hydra.sweep.dir: {record.parent} holds no {MULTIRUN}; nothing to resume")
    difference = _first_difference(_plain(OmegaConf.load(record)), _plain(config))
    if difference:
        raise ResumeRefused(f"the sweep's configuration changed since it ran ({difference}); resume refuses to mix them")


@contextmanager
def keeping_sweep_record(config: Optional[DictConfig], resume: bool) -> Iterator[None]:
    """On resume, keep the sweep's original multirun.yaml (Hydra rewrites it at every sweep)."""
    record = None if config is None or not resume else sweep_dir_of(config) / MULTIRUN
    original = record.read_text(encoding="utf-8") if record is not None and record.is_file() else None
    try:
        yield
    finally:
        if record is not None and original is not None:
            write_text_atomic(record, original)


def _runs(indices: Sequence[int]) -> List[Tuple[int, int]]:
    """Consecutive job numbers as (first, count) runs: 3,4,5,8 -> (3,3),(8,1)."""
    runs: List[Tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][0] + runs[-1][1] == index:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((index, 1))
    return runs


def _in_process(launcher: Launcher) -> bool:
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    return type(launcher) is BasicLauncher


class FilingLauncher(Launcher):
    """Wraps the sweep's launcher: launch, then file each returned job on the driver."""

    def __init__(self, inner: Launcher, hydra_context: HydraContext, config: DictConfig, resume: bool = False) -> None:
        self.inner = inner
        self.hydra_context = hydra_context
        self.config = config
        self.resume = resume
        self.warned = False
        # composed by the sweeper's check, reused by an in-process launcher (see reusing_composed)
        self.composed: Optional[Dict[Tuple[str, ...], DictConfig]] = {} if _in_process(inner) else None
        self.not_run: Dict[Tuple[str, ...], str] = {}  # jobs the check found impossible, and why
        self.not_run_entries: List[Dict[str, Any]] = []  # what NOT_RUN holds

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.inner.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def _job_dir(self, overrides: Sequence[str], num: int) -> Path:
        """The job's directory, from hydra.sweep.subdir composed as the launcher will compose it."""
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.num = num
        return sweep_dir_of(self.config) / str(sweep_config.hydra.sweep.subdir)

    def _pending(self, job_overrides: Sequence[Sequence[str]], first: int) -> List[int]:
        """Job numbers of this batch without a complete result; a complete one must be this job's."""
        pending = []
        for offset, overrides in enumerate(job_overrides):
            num = first + offset
            job_dir = self._job_dir(overrides, num)
            if not is_complete(job_dir):
                pending.append(num)
                continue
            recorded = json.loads((job_dir / RESULT).read_text(encoding="utf-8")).get("overrides")
            if recorded is not None and list(recorded) != list(overrides):
                raise ResumeRefused(
                    f"job {num} in {job_dir} holds a result for {' '.join(recorded)}, but the sweep's job {num} "
                    f"is {' '.join(overrides)}; resume refuses to mix them"
                )
        return pending

    @contextmanager
    def reusing_composed(self) -> Iterator[None]:
        """While the inner launcher runs, hand it each job's configuration as the check composed
        it (the same call with the same overrides), instead of composing every job twice. Only
        for Hydra's in-process launcher: a launcher that pickles itself must not carry this."""
        loader = self.hydra_context.config_loader
        kept = self.composed
        if not kept:
            yield
            return
        compose = loader.load_sweep_config

        def load_sweep_config(master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
            found = kept.pop(tuple(sweep_overrides), None)
            return found if found is not None else compose(master_config, sweep_overrides)

        loader.load_sweep_config = load_sweep_config
        try:
            yield
        finally:
            del loader.load_sweep_config  # the class's own method again
            kept.clear()

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        impossible = [initial_job_idx + offset for offset, overrides in enumerate(job_overrides)
                      if tuple(overrides) in self.not_run]
        if impossible:
            self._record_not_run(job_overrides, initial_job_idx)
        if not self.resume:  # one launch for the batch, or one per run of numbers around the impossible
            returns = []
            chosen = [i for i in range(initial_job_idx, initial_job_idx + len(job_overrides)) if i not in impossible]
            with self.reusing_composed():
                for first, count in _runs(chosen):
                    batch = job_overrides[first - initial_job_idx:first - initial_job_idx + count]
                    returns += self.inner.launch(batch, initial_job_idx=first)
        else:
            pending = [num for num in self._pending(job_overrides, initial_job_idx) if num not in impossible]
            total = len(job_overrides)
            if not pending:
                logger.info(f"resume: jobs {initial_job_idx}..{initial_job_idx + total - 1} are all complete")
            else:
                logger.info(
                    f"resume: {len(pending)} of {total} jobs have no complete result; rerunning job(s) "
                    f"{', '.join(map(str, pending))}"
                )
            returns = []
            for first, count in _runs(pending):
                batch = job_overrides[first - initial_job_idx:first - initial_job_idx + count]
                for offset, overrides in enumerate(batch):
                    clear_attempt(self._job_dir(overrides, first + offset))
                returns += self.inner.launch(batch, initial_job_idx=first)
        for job in returns:
            self._file(job)
        return returns

    def _record_not_run(self, job_overrides: Sequence[Sequence[str]], first: int) -> None:
        """Say once, and leave in the sweep directory (records.files.NOT_RUN), which jobs of the
        sweep do not exist as combinations and were not run; their numbers stay unused."""
        entries = [{"job": first + offset, "overrides": list(overrides), "reason": self.not_run[tuple(overrides)]}
                   for offset, overrides in enumerate(job_overrides) if tuple(overrides) in self.not_run]
        reasons: Dict[str, List[str]] = {}
        for entry in entries:
            reasons.setdefault(entry["reason"].split(";")[0], []).append(" ".join(entry["overrides"]))
        for reason, jobs in reasons.items():
            logger.warning(f"not run: {len(jobs)} job(s) ({'; '.join(jobs[:6])}{' ...' if len(jobs) > 6 else ''}): {reason}")
        self.not_run_entries += [entry for entry in entries if entry not in self.not_run_entries]
        write_json_atomic(sweep_dir_of(self.config) / NOT_RUN, self.not_run_entries)

    def _file(self, job: JobReturn) -> None:
        files = job._return_value if job.status == JobStatus.COMPLETED else None
        if not isinstance(files, JobFiles):
            return
        outcome = file_job(sweep_dir_of(self.config), files)
        if outcome == "filed":
            logger.info(f"filed job {files.subdir} returned by its worker in {sweep_dir_of(self.config) / files.subdir}")
        elif outcome == "kept":
            logger.warning(f"job {files.subdir}: a complete result is already there; kept it, the returned one is not filed")
        self._warn_corun(files)

    def _warn_corun(self, files: JobFiles) -> None:
        if self.warned:
            return
        host = json.loads(files.text(RESULT)).get("host") or {}
        if host.get("co_jobs"):
            self.warned = True
            logger.warning(
                f"parallel jobs share a host: job {files.subdir} ran beside {host['co_jobs']} other synclab job(s) "
                f"on {host.get('name')} (load {host.get('load_end')} on {host.get('cpus')} cores). They compete "
                f"for cores and disturb what they measure; the summary marks such rows in its co-run column"
            )
