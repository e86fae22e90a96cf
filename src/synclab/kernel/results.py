"""A run's results as frozen data: each repeat classified from what it left behind, by the
same rules every reader of a stored result applies (records.judge). The file format is
records.resultfile's."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Tuple

from synclab.kernel.outcome import classify, grade_table
from synclab.kernel.spec import ExperimentSpec

if TYPE_CHECKING:  # the readers of result.json import this module without the code that starts workers
    from synclab.kernel.primitives.workers import RawRepeat


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
    # the GIL while this repeat ran, asked afterwards of the process whose threads ran the loop
    # (it only ever comes back on, so "off afterwards" means off throughout); None: not known
    gil_enabled: Optional[bool]


def classify_repeat(repeat: int, spec: ExperimentSpec, raw: "RawRepeat", gil_enabled: Optional[bool] = None) -> RepeatResult:
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
        gil_enabled=gil_enabled,
    )


@dataclass(frozen=True)
class ExperimentResult:
    spec: ExperimentSpec
    runs: List[RepeatResult]
    gil_at_start: Optional[bool] = None  # the GIL in the runner's process before the first repeat
    gil_reenabled_by: Tuple[str, ...] = ()  # modules whose import turned the GIL back on (kernel.gil)

