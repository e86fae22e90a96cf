"""The statistics of a report, as pure functions over plain numbers (standard library only).

Kept apart from reading files so that each number in a summary can be checked by hand.
"""

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence, Tuple

# The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054

# Keys that do not change what a job measures per operation: a lock's cost is read against
# the lock=none job that differs from it in nothing else.
BASELINE_IGNORED = ("lock", "repeats", "timeout_s", "grades")


def wilson(successes: int, trials: int, z: float = Z95) -> Optional[Tuple[float, float]]:
    """Wilson score interval for a proportion: honest at 0/n and n/n, unlike the normal one.

    None when there are no trials (nothing is known).
    """
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}, got {successes}")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


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
    # the sample standard deviation, in floats: statistics.stdev's exact fractions cost 30x more
    stdev = math.sqrt(math.fsum((d - mean) ** 2 for d in drifts) / (count - 1)) if count > 1 else None
    return DriftStats(count, mean, stdev, min(drifts), max(drifts))


def median(values: Iterable[Optional[float]]) -> Optional[float]:
    """Median of the values that exist; None when none does."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    middle = len(present) // 2
    return present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2


def lock_cost(locked_ops_per_s: Optional[float], unlocked_ops_per_s: Optional[float]) -> Optional[float]:
    """How many times longer an operation takes with the lock than without it.

    ops/s without the lock divided by ops/s with it: 1.0 means free, 3.0 three times slower.
    """
    if not locked_ops_per_s or not unlocked_ops_per_s or locked_ops_per_s <= 0 or unlocked_ops_per_s <= 0:
        return None
    return unlocked_ops_per_s / locked_ops_per_s


def baseline_key(config: Mapping[str, object], ignored: Sequence[str] = BASELINE_IGNORED) -> Tuple:
    """What two jobs must share for one to be the other's lock=none baseline.

    ``config`` is flat (dotted keys); a key is ignored with everything under it.
    """
    return tuple(sorted((key, value) for key, value in config.items() if key.split(".", 1)[0] not in ignored))


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table [[a, b], [c, d]].

    Exact (integer counts of tables, no approximation), so it stays honest at the handful of
    repeats an experiment often has: the p-value is the probability, with the margins fixed,
    of a table no more likely than the one observed.
    """
    if min(a, b, c, d) < 0:
        raise ValueError(f"counts must be >= 0, got {(a, b, c, d)}")
    row1, row2, col1 = a + b, c + d, a + c
    low, high = max(0, col1 - row2), min(row1, col1)
    weights = {x: math.comb(row1, x) * math.comb(row2, col1 - x) for x in range(low, high + 1)}
    observed = weights[a]
    total = sum(weights.values())
    return min(1.0, sum(w for w in weights.values() if w <= observed) / total)
