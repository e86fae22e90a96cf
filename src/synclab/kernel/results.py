"""Results as frozen data, their summary, and the versioned result.json written atomically.

Format history of result.json (``schema_version``):

- 1: config, grading, runs (the repeat's numbers, its outcome and grade), summary; later
  versions of 1 add ``overrides`` and ``host``.
- 2: every repeat also records ``timed_out``, so that a reader can derive its outcome from its
  numbers alone (judge.py); a schema 1 repeat's timeout is known only from its stored outcome.
  ``interpreter`` records what ran the loop (implementation, version, free_threaded,
  gil_enabled, start_method), which compare and replay match; before it, only env.json had it.
"""

import functools
import json
import os
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from synclab.kernel.outcome import DRIFT_OUTCOMES, classify, drift_stats, grade_table
from synclab.kernel.spec import ExperimentSpec

if TYPE_CHECKING:  # the readers of result.json import this module without the code that starts workers
    from synclab.kernel.primitives import RawRepeat

RESULT = "result.json"  # the file each run leaves: the schema below

SCHEMA_VERSION = 2
SCHEMA_VERSIONS = (1, 2)  # what this synclab reads


@dataclass(frozen=True)
class RepeatResult:
    repeat: int
    before: int
    after: Optional[int]
    expected: int
    drift: Optional[int]
    ops_expected: int
    ops_reported: int
    ops_done: int
    failed_workers: int
    timed_out: bool
    wall_s: float
    work_s: Optional[float]
    ops_per_s: Optional[float]
    outcome: str
    grade: str


def judge(repeat: int, spec: ExperimentSpec, raw: "RawRepeat") -> RepeatResult:
    """Turn what a repeat left behind into a classified result."""
    outcome = classify(
        expected=spec.expected,
        after=raw.after,
        ops_expected=spec.ops_expected,
        ops_reported=raw.ops_reported,
        ops_done=raw.ops_done,
        failed_workers=raw.failed_workers,
        timed_out=raw.timed_out,
    )
    rate = raw.ops_done / raw.work_s if raw.work_s and raw.ops_done else None
    return RepeatResult(
        repeat=repeat,
        before=raw.before,
        after=raw.after,
        expected=spec.expected,
        drift=None if raw.after is None else raw.after - spec.expected,
        ops_expected=spec.ops_expected,
        ops_reported=raw.ops_reported,
        ops_done=raw.ops_done,
        failed_workers=raw.failed_workers,
        timed_out=raw.timed_out,
        wall_s=round(raw.wall_s, 6),
        work_s=None if raw.work_s is None else round(raw.work_s, 6),
        ops_per_s=None if rate is None else round(rate, 1),
        outcome=outcome,
        grade=grade_table(spec.lock, spec.grades)[outcome],
    )


def summarize(runs: Sequence[Any]) -> Dict[str, Any]:
    """Counts per outcome and the spread of drift and throughput over the repeats that have them.

    ``runs`` are RepeatResults, or anything with their outcome, grade, drift and ops_per_s:
    the readers recompute a stored summary with this same function.
    """
    outcomes: Dict[str, int] = {}
    grades: Dict[str, int] = {}
    for run in runs:
        outcomes[run.outcome] = outcomes.get(run.outcome, 0) + 1
        grades[run.grade] = grades.get(run.grade, 0) + 1
    drift = drift_stats([run.drift for run in runs if run.drift is not None and run.outcome in DRIFT_OUTCOMES])
    rates = [run.ops_per_s for run in runs if run.ops_per_s is not None]
    return {
        "repeats": len(runs),
        "outcomes": outcomes,
        "grades": grades,
        "forbidden": sorted({run.outcome for run in runs if run.grade == "forbidden"}),
        "drift_mean": None if drift.mean is None else round(drift.mean, 3),
        "drift_stdev": None if drift.stdev is None else round(drift.stdev, 3),
        "drift_min": drift.min,
        "drift_max": drift.max,
        "ops_per_s_median": round(statistics.median(rates), 1) if rates else None,
    }


@dataclass(frozen=True)
class ExperimentResult:
    spec: ExperimentSpec
    runs: List[RepeatResult]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "config": self.spec.to_dict(),
            "grading": grade_table(self.spec.lock, self.spec.grades),
            "runs": [asdict(run) for run in self.runs],
            "summary": summarize(self.runs),
        }


@functools.lru_cache(maxsize=1)
def umask() -> int:
    """The process's umask, read once (reading it means setting it for an instant)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write next to the destination, then rename: a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())  # as readable as any other file of the run, not mkstemp's 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """UTF-8 text written atomically, exactly as given (line endings included)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON written atomically (see write_bytes_atomic)."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))
