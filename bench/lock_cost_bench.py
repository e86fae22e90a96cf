"""Benchmark of the lock cost the report states (a section of `make bench`).

One lock's cost measured two ways in the same run, each with its 95% interval:

1. As the report computes it: all the unlocked repeats, then all the locked ones, each job filed
   as a sweep files it, and the lock=none twin of the locked job as its baseline (ratio of the
   geometric means, interval from the t distribution of the log rates).
2. As a paired loop: one unlocked repeat, then one locked, alternating, the cost of each pair
   its own ratio, the geometric mean of the pair ratios with its t interval. Pairing cancels a
   slow drift of the machine's load; where the two disagree, the load moved between the blocks
   the report's jobs ran in.
"""

import json
import tempfile
from pathlib import Path
from typing import List, Tuple

from synclab.records.resultfile import document
from synclab.reports.report import collect
from synclab.reports.render import lock_cost_cell
from synclab.kernel.runner import run_experiment
from synclab.kernel.spec import ExperimentSpec
from synclab.reports.stats import geometric_mean

Row = Tuple[str, float, str]
REPEATS = 12
CELLS = (("thread", "explicit", 200_000), ("process", "explicit", 200_000))


def _spec(primitive: str, lock: str, times: int, repeats: int) -> ExperimentSpec:
    return ExperimentSpec(primitive=primitive, lock=lock, workers=2, times=times, repeats=repeats, timeout_s=120)


def _in_the_report(primitive: str, lock: str, times: int) -> Tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="synclab-bench-lockcost-") as tmp:
        sweep = Path(tmp) / "sweep"
        for num, name in enumerate(("none", lock)):
            data = document(run_experiment(_spec(primitive, name, times, REPEATS)))
            data["overrides"] = [f"lock={name}"]
            (sweep / str(num)).mkdir(parents=True)
            (sweep / str(num) / "result.json").write_text(json.dumps(data))
        row = next(row for row in collect(sweep).rows if row.config.get("lock") == lock)
    return row.lock_cost or float("nan"), lock_cost_cell(row)


def _paired(primitive: str, lock: str, times: int) -> Tuple[float, str]:
    ratios = []
    for _ in range(REPEATS):
        unlocked = run_experiment(_spec(primitive, "none", times, 1)).runs[0]
        locked = run_experiment(_spec(primitive, lock, times, 1)).runs[0]
        if unlocked.ops_per_s and locked.ops_per_s:
            ratios.append(unlocked.ops_per_s / locked.ops_per_s)
    cost = geometric_mean(ratios)
    if cost is None:
        return float("nan"), "-"
    return cost.value, f"{cost.value:.2f}x [{cost.low:.2f}, {cost.high:.2f}]"


def bench_lock_cost() -> List[Row]:
    rows: List[Row] = []
    for primitive, lock, times in CELLS:
        report_value, report_cell = _in_the_report(primitive, lock, times)
        paired_value, paired_cell = _paired(primitive, lock, times)
        rows.append((f"lock cost {primitive}/{lock}, as the report", report_value,
                     f"{report_cell}; {REPEATS} repeats a job, 2 workers x {times:,}"))
        rows.append((f"lock cost {primitive}/{lock}, paired loop", paired_value,
                     f"{paired_cell}; {REPEATS} alternating pairs, 2 workers x {times:,}"))
    return rows


if __name__ == "__main__":
    for name, value, note in bench_lock_cost():
        print(f"{name:<45} {value:8.3f}  {note}")
