"""Benchmark of the sweep reports (a section of `make bench`).

1. `synclab report` over 10,000 synthetic run directories (mixed: sweeps and single runs, each
   with the files a real job leaves, its result.json derived from a real one in tests/fixtures),
   as a user runs it: a fresh interpreter, CSV to a pipe, no plots. Target: at most 2 s.
2. The per-job cost of a sweep's summary: the callback's per-job hooks and its end-of-sweep
   summary, divided by the number of jobs, for a small and a large sweep. Nothing rescans the
   tree per job, so the two are about equal (target: the ratio stays near 1, well under 2).
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from omegaconf import OmegaConf

from synclab.app.callbacks import ReportCallback
from synclab.reports.summary import summarize_sweep
from synclab.reports.report import collect
from synclab.reports.render import to_csv

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from synthetic import result  # noqa: E402  (results derived from tests/fixtures)

Row = Tuple[str, float, str]
RUNS = 10_000
JOBS_PER_SWEEP = 100
TRIALS = 3
LOCKS = ("none", "explicit", "decorator", "context")
TIMES = 10_000


def _result(lock: str, workers: int, repeats: int, rng: random.Random) -> dict:
    """tests/fixtures/result-schema2.json as a job of these settings would have left it, with
    plausible drifts and rates, each repeat's numbers consistent with its outcome, so that the
    report judges every one (judge.py) and finds nothing to flag."""
    drifts = [0 if lock != "none" or rng.random() < 0.3 else rng.randint(-5000, 5000) for _ in range(repeats)]
    rates = [round(workers * TIMES / rng.uniform(0.01, 0.05), 1) for _ in range(repeats)]
    return result(lock, workers, outcomes=["consistent" if drift == 0 else "lost_updates" for drift in drifts],
                  drifts=drifts, rates=rates, overrides=[f"lock={lock}", f"workers={workers}", f"times={TIMES}"],
                  times=TIMES)


def _job(directory: Path, lock: str, workers: int, rng: random.Random) -> None:
    (directory / ".hydra").mkdir(parents=True)
    (directory / ".hydra" / "overrides.yaml").write_text(f"- lock={lock}\n- workers={workers}\n- times={TIMES}\n")
    (directory / ".hydra" / "config.yaml").write_text(f"lock:\n  name: {lock}\nworkers: {workers}\n")
    (directory / "env.json").write_text('{"python": "3.11"}\n')
    (directory / "run.log").write_text("repeat 0: ...\n")
    (directory / "result.json").write_text(json.dumps(_result(lock, workers, 5, rng), indent=2))


def make_tree(root: Path, runs: int = RUNS, jobs_per_sweep: int = JOBS_PER_SWEEP) -> None:
    """Sweeps of jobs_per_sweep jobs under multirun/, plus single runs: runs directories in all."""
    rng = random.Random(1)
    singles = runs % jobs_per_sweep or jobs_per_sweep
    for sweep in range((runs - singles) // jobs_per_sweep):
        sweep_dir = root / "multirun" / "2026-01-01" / f"12-00-{sweep:06d}"
        for num in range(jobs_per_sweep):
            _job(sweep_dir / str(num), LOCKS[num % 4], 1 + num // 4 % 8, rng)
    for single in range(singles):
        _job(root / "2026-01-02" / f"12-00-{single:06d}", LOCKS[single % 4], 2, rng)


def _report_cli(root: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "synclab", "report", str(root), "--format", "csv"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120)
    return time.perf_counter() - start


def _sweep_cost_per_job(jobs: int) -> float:
    """Seconds per job that the report callback adds to a sweep of `jobs` jobs (plots excluded)."""
    with tempfile.TemporaryDirectory(prefix="synclab-bench-sweep-") as tmp:
        sweep = Path(tmp)
        rng = random.Random(2)
        for num in range(jobs):
            _job(sweep / str(num), LOCKS[num % 4], 1 + num // 4 % 8, rng)
        config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}, "launcher": {"_target_": "x"}}})
        callback = ReportCallback(plots=False, table=False)
        best = float("inf")
        for _ in range(TRIALS):
            start = time.perf_counter()
            callback.on_multirun_start(config)
            for _ in range(jobs):
                callback.on_job_end(config, job_return=None)
            summarize_sweep(sweep, plots=False, table=False)
            best = min(best, time.perf_counter() - start)
        return best / jobs


def bench_report() -> List[Row]:
    from loguru import logger

    logger.remove()  # the callback's own log lines would interleave with the benchmark's table
    rows: List[Row] = []
    with tempfile.TemporaryDirectory(prefix="synclab-bench-report-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        make_tree(root)
        made = time.perf_counter() - start
        wall = min(_report_cli(root) for _ in range(TRIALS))
        rows.append((
            f"report: synclab report over {RUNS:,} run dirs (s)", wall,
            f"fresh interpreter, CSV, no plots, best of {TRIALS}; target <= 2.0 s"
            + ("" if wall <= 2.0 else "  ABOVE 2.0 s") + f" (tree built in {made:.1f} s)",
        ))
        start = time.perf_counter()
        report = collect(root)
        to_csv(report)
        inside = time.perf_counter() - start
        rows.append((f"report: collect + CSV in-process, {len(report.rows):,} rows (s)", inside,
                     f"{inside / RUNS * 1e6:.0f} us per run dir; skipped {len(report.skipped)}, "
                     f"inconsistent {len(report.inconsistent_rows)}"))
    small, large = _sweep_cost_per_job(50), _sweep_cost_per_job(2000)
    ratio = large / small
    rows.append(("callback: per-job cost, sweep of 50 jobs (ms)", small * 1e3, "hooks + end summary, no plots"))
    rows.append(("callback: per-job cost, sweep of 2000 jobs (ms)", large * 1e3, "hooks + end summary, no plots"))
    rows.append(("callback: per-job cost ratio 2000 / 50 jobs", ratio,
                 "constant per job: nothing rescans the sweep per job; target < 2" + ("" if ratio < 2 else "  ABOVE 2")))
    return rows


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    for name, value, note in bench_report():
        print(f"{name:<58} {value:10.3f}  {note}")
