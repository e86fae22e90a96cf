"""The end-of-sweep report: a real multirun leaves its summary and plots; single runs print their row."""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from synclab.app import callbacks
from synclab.commands import report as report_command
from synclab.app.callbacks import ReportCallback, count_jobs
from synthetic import result

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def run_py(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> "tuple[Path, subprocess.CompletedProcess]":
    sweep_dir = tmp_path_factory.mktemp("sweep") / "lock_x_workers"
    done = run_py("-m", "lock=none,explicit", "workers=1,2", "times=200", "repeats=2", "timeout_s=30",
                  f"hydra.sweep.dir={sweep_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    return sweep_dir, done


def test_a_real_multirun_ends_with_summary_and_plots(swept):
    sweep_dir, done = swept
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert [(r["job"], r["lock"], r["workers"]) for r in rows] == [
        ("0", "none", "1"), ("1", "none", "2"), ("2", "explicit", "1"), ("3", "explicit", "2")]
    for r in rows:
        assert r["repeats"] == "2"
        assert int(r["consistent"]) + int(r["lost_updates"]) == 2
    locked = [r for r in rows if r["lock"] == "explicit"]
    assert all(r["consistent"] == "2" and r["forbidden"] == "" for r in locked)
    assert all(r["lock_cost"] not in ("", None) for r in locked)  # each has its lock=none twin
    md = (sweep_dir / "summary.md").read_text()
    assert md.startswith("# synclab summary") and "| job | lock | workers |" in md
    for name in ("outcomes.png", "drift.png", "throughput.png"):
        assert (sweep_dir / name).read_bytes()[:8] == PNG
    assert "4 jobs, 8 repeats" in done.stdout  # the summary table closes the sweep's output


def test_the_report_command_reproduces_the_callbacks_summary(swept, tmp_path, capsys):
    sweep_dir, _ = swept
    assert report_command.run(_args(str(sweep_dir), out=str(tmp_path))) == 0
    capsys.readouterr()
    assert (tmp_path / "summary.csv").read_text() == (sweep_dir / "summary.csv").read_text()


def _args(path: str, **kwargs: object):
    import argparse

    parser = argparse.ArgumentParser()
    report_command.add_arguments(parser)
    argv = [path]
    for key, value in kwargs.items():
        argv += [f"--{key}", str(value)]
    return parser.parse_args(argv)


def _on_a_terminal(args: "list[str]", timeout: float = 120) -> str:
    """Everything a run.py subprocess writes to a pseudo-terminal standing in for stdout and stderr."""
    import pty
    import select

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal closed: every writer is gone
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-2000:]
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_and_never_elsewhere(swept, tmp_path):
    shown = _on_a_terminal(["-m", "workers=1,2", "times=200", "repeats=2", "timeout_s=30",
                            f"hydra.sweep.dir={tmp_path / 'tty'}"])
    assert "jobs [" in shown and "2/2" in shown and "repeats [" in shown  # drawn where a person watches
    sweep_dir, done = swept  # the same kind of sweep through pipes: not a byte of it
    for text in (done.stdout, done.stderr, *(p.read_text() for p in sweep_dir.glob("*/run.log"))):
        assert "\x1b[K" not in text and "\r" not in text
        assert "jobs [" not in text and "repeats [" not in text
    assert done.stdout.count("repeat  before") == 4  # ...though the sweep printed its tables there


def test_a_single_run_prints_its_summary_row(tmp_path):
    run_dir = tmp_path / "single"
    done = run_py("times=200", "repeats=2", "lock=explicit", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "anomaly [95% CI]" in done.stdout
    assert "1 job, 2 repeats, no forbidden outcome" in done.stdout
    data = json.loads((run_dir / "result.json").read_text())
    assert data["overrides"] == ["times=200", "repeats=2", "lock=explicit"]
    assert not (run_dir / "summary.csv").exists()  # summaries are for sweeps and `synclab report`


def synthetic_sweep(root: Path, jobs: int) -> Path:
    for num in range(jobs):
        directory = root / str(num)
        directory.mkdir(parents=True)
        data = result("none", num + 1, overrides=[f"workers={num + 1}"])
        (directory / "result.json").write_text(json.dumps(data))
    return root


def test_the_tree_is_read_once_at_the_end_not_per_job(tmp_path, monkeypatch):
    sweep_dir = synthetic_sweep(tmp_path / "s", 25)
    calls = []
    from synclab.reports import summary

    real_collect = summary.collect  # what the end-of-sweep summary reads the tree with
    monkeypatch.setattr(summary, "collect", lambda root: calls.append(root) or real_collect(root))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)},
                                         "launcher": {"_target_": callbacks.BASIC_LAUNCHER}}})
    callback = ReportCallback(plots=False, table=False)
    callback.on_multirun_start(config)
    for _ in range(25):
        callback.on_job_end(config, job_return=None)
    assert calls == []
    callback.on_multirun_end(config)
    assert calls == [sweep_dir]
    assert len((sweep_dir / "summary.csv").read_text().splitlines()) == 26


def test_a_summary_that_cannot_be_written_does_not_fail_the_sweep(tmp_path):
    from loguru import logger

    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    sweep_dir = blocker / "sweep"  # nothing can be read or written under a regular file
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}})
    warnings: "list[str]" = []
    handler = logger.add(lambda message: warnings.append(str(message)), level="WARNING", format="{message}")
    try:
        ReportCallback(plots=False, table=False).on_multirun_end(config)  # raises nothing
    finally:
        logger.remove(handler)
    assert len(warnings) == 1 and warnings[0].startswith("sweep summary not written (")
    assert f"run `synclab report {sweep_dir} --out {sweep_dir}`" in warnings[0]
    assert blocker.read_text() == "not a directory\n"


@pytest.mark.parametrize("task, params, expected", [
    (["lock=none,explicit", "workers=1,2,4", "times=10"], {}, 6),
    (["times=10"], {}, 1),
    (["lock=none,explicit"], {"workers": "1,2"}, 4),
    (["workers=range(1,4)"], {}, 3),
    (["lock=glob(*)"], {}, None),
])
def test_count_jobs_as_the_basic_sweeper_does(task, params, expected):
    config = OmegaConf.create({"hydra": {"sweeper": {"_target_": callbacks.BASIC_SWEEPER, "params": params},
                                         "overrides": {"task": task}}})
    assert count_jobs(config) == expected


def test_count_jobs_does_not_guess_for_other_sweepers():
    config = OmegaConf.create({"hydra": {"sweeper": {"_target_": "some.Optimizer"}, "overrides": {"task": []}}})
    assert count_jobs(config) is None
