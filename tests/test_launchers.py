"""The shipped launcher configs against the real plugins: submitit's local executor, joblib in
parallel (co-running jobs recorded, warned about once and marked), and the Slurm submission
that submitit generates, checked without a cluster."""

import csv
import json
import os
from pathlib import Path

import pytest

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _rows(sweep: Path):
    return list(csv.DictReader((sweep / "summary.csv").open()))


def _assert_complete(sweep: Path, jobs: int, repeats: int) -> None:
    for job in range(jobs):
        result = json.loads((sweep / str(job) / "result.json").read_text())
        assert len(result["runs"]) == repeats
        assert (sweep / str(job) / "env.json").is_file() and (sweep / str(job) / "run.log").is_file()
    assert [row["job"] for row in _rows(sweep)] == [str(job) for job in range(jobs)]


def test_submitit_local_sweep_lands_complete(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install 'synclab[slurm]'")
    sweep = tmp_path / "sweep"
    done = run_cli(["-m", "hydra/launcher=local_submitit", "hydra.sweeper.max_batch_size=1", "lock=none,explicit",
                    "times=2000", "repeats=2", f"hydra.sweep.dir={sweep}"])
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_complete(sweep, jobs=2, repeats=2)
    assert list((sweep / ".submitit").iterdir()), "submitit kept no record of its jobs"


def test_joblib_parallel_sweep_warns_once_and_marks_co_run_rows(tmp_path, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install 'synclab[joblib]'")
    # A registry of running jobs for this test alone: jobs elsewhere on the machine do not count.
    monkeypatch.setenv("SYNCLAB_RUNNING_DIR", str(tmp_path / "running"))
    sweep = tmp_path / "sweep"
    # Two jobs of about two seconds each on two joblib workers: they overlap for most of their run.
    done = run_cli(["-m", "hydra/launcher=parallel", "lock=none,explicit", "times=500", "sleep=0.001",
                    "repeats=4", f"hydra.sweep.dir={sweep}"])
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_complete(sweep, jobs=2, repeats=4)
    assert done.stderr.count("parallel jobs share a host") == 1
    for row in _rows(sweep):
        assert int(row["co_jobs"]) == 1 and row["host_load"] != ""
    assert (sweep / "summary.md").read_text().count("CO-RUN: 1 other") == 2
    assert os.listdir(tmp_path / "running") == []  # every job unregistered when it ended


class Submitted(Exception):
    """Stands in for sbatch: carries the submission file submitit generated."""


def test_slurm_submission_generated_from_the_launcher_config(tmp_path, compose, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install 'synclab[slurm]'")
    from hydra.core.utils import setup_globals
    from hydra.utils import instantiate
    from submitit.slurm.slurm import SlurmExecutor

    from synclab.app.job import _hydra_task

    def capture(executor, command):
        raise Submitted(executor._make_submission_file_text(command, "UID"))

    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # as if srun were here
    monkeypatch.setattr(SlurmExecutor, "_submit_command", capture)
    setup_globals()
    sweep = tmp_path / "sweep"
    cfg = compose(["hydra/launcher=slurm", "hydra.launcher.partition=short", "hydra.launcher.account=proj",
                   "hydra.launcher.array_parallelism=2", f"hydra.sweep.dir={sweep}"], return_hydra_config=True)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=_hydra_task, config=cfg)
    with pytest.raises(Submitted) as submitted:
        launcher.launch([["lock=none"], ["lock=explicit"], ["lock=rlock"]], initial_job_idx=0)
    script = str(submitted.value)
    folder = f"{sweep}/.submitit/%A_%a"
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=4GB", "#SBATCH --nodes=1",
                 "#SBATCH --ntasks-per-node=1", "#SBATCH --partition=short", "#SBATCH --account=proj",
                 "#SBATCH --time=60", "#SBATCH --job-name=synclab", f"#SBATCH --output={folder}/%A_%a_0_log.out"):
        assert line in script.splitlines(), f"{line!r} not in:\n{script}"
    assert "-m submitit.core._submit" in script
    assert len(list((sweep / ".submitit").rglob("*.pkl"))) == 3  # one pickled job per sweep job
