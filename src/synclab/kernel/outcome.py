"""Classify one repeat. Every repeat gets exactly one outcome, checked in this order, because
each later question only makes sense once the earlier ones are answered:

- ``timeout``: the repeat outlived timeout_s; its workers were stopped.
- ``incomplete``: a worker died or raised, or fewer operations were reported than expected.
- ``not_shared``: every operation was reported, but the shared count the parent reads did not
  see them: the workers wrote to memory of their own, so the balance says nothing.
- ``lost_updates``: all work landed, and the balance is not what it must be.
- ``consistent``: all work landed, and the balance is exactly what it must be.
"""

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

OUTCOMES = ("consistent", "lost_updates", "not_shared", "incomplete", "timeout")

# Outcomes whose balance means something: drift is read over these repeats only.
DRIFT_OUTCOMES = ("consistent", "lost_updates")

# Grades, as a concurrency stress harness grades: an acceptable outcome is allowed, an
# interesting one is allowed and worth showing (an expected race), a forbidden one means
# the experiment, the lock or the harness is broken.
GRADES = ("acceptable", "interesting", "forbidden")

# Repeats one job may classify: the spec refuses more, and a result.json holding more is not read
# back (synclab.records.bounded lists every bound on reading).
MAX_REPEATS = 20_000


def classify(
    *,
    expected: int,
    after: Optional[int],
    ops_expected: int,
    ops_reported: int,
    ops_done: int,
    failed_workers: int,
    timed_out: bool,
) -> str:
    if timed_out:
        return "timeout"
    if failed_workers or ops_reported < ops_expected or after is None:
        return "incomplete"
    if ops_done != ops_reported:
        return "not_shared"
    return "consistent" if after == expected else "lost_updates"


def default_grades(lock: str) -> "dict[str, str]":
    """With a lock only ``consistent`` is allowed; without one a lost update is the point."""
    grades = {outcome: "forbidden" for outcome in OUTCOMES}
    grades["consistent"] = "acceptable"
    if lock == "none":
        grades["lost_updates"] = "interesting"
    return grades


def grade_table(lock: str, overrides: Optional[Mapping[str, str]] = None) -> "dict[str, str]":
    """The grade of every outcome for an experiment: the defaults, then a preset's overrides."""
    grades = default_grades(lock)
    grades.update(overrides or {})
    return grades


@dataclass(frozen=True)
class DriftStats:
    """Spread of drift (after - expected) over the repeats whose balance means something."""

    count: int
    mean: Optional[float]
    stdev: Optional[float]  # sample standard deviation; needs two repeats
    min: Optional[int]
    max: Optional[int]


def drift_stats(drifts: Sequence[int]) -> DriftStats:
    if not drifts:
        return DriftStats(0, None, None, None, None)
    count = len(drifts)
    mean = math.fsum(drifts) / count
    # the sample standard deviation in floats: statistics.stdev's exact fractions are far slower over many jobs
    stdev = math.sqrt(math.fsum((d - mean) ** 2 for d in drifts) / (count - 1)) if count > 1 else None
    return DriftStats(count, mean, stdev, min(drifts), max(drifts))
