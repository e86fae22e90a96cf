"""The statistics of a report, as pure functions over plain numbers (standard library only).

Kept apart from reading files so that each number in a summary can be checked by hand.
"""

import functools
import math
import statistics
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Sequence, Tuple

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


def median(values: Iterable[Optional[float]]) -> Optional[float]:
    """Median of the values that exist; None when none does."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    middle = len(present) // 2
    return present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2


def baseline_key(config: Mapping[str, object], ignored: Sequence[str] = BASELINE_IGNORED) -> Tuple:
    """What two jobs must share for one to be the other's lock=none baseline.

    ``config`` is flat (dotted keys); a key is ignored with everything under it.
    """
    return tuple(sorted((key, value) for key, value in config.items() if key.split(".", 1)[0] not in ignored))


# Tables up to this many counts are summed as exact integers; larger ones (the millions of samples
# of a stress test) in log space, over only the terms that are not negligible.
EXACT_TABLE_LIMIT = 2000
_RELATIVE = 1e-7  # tables this close in probability to the observed one count as no more likely


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table [[a, b], [c, d]].

    Exact for small tables (counts of tables, no approximation), so it stays honest at the handful
    of repeats an experiment often has: the p-value is the probability, with the margins fixed, of
    a table no more likely than the one observed. Large tables (a stress test's samples) are summed
    in log space (_fisher_large), to a relative error far below any level a verdict tests at.
    """
    if min(a, b, c, d) < 0:
        raise ValueError(f"counts must be >= 0, got {(a, b, c, d)}")
    if a + b + c + d > EXACT_TABLE_LIMIT:
        return _fisher_large(a, b, c, d)
    row1, row2, col1 = a + b, c + d, a + c
    low, high = max(0, col1 - row2), min(row1, col1)
    weights = {x: math.comb(row1, x) * math.comb(row2, col1 - x) for x in range(low, high + 1)}
    observed = weights[a]
    total = sum(weights.values())
    return min(1.0, sum(w for w in weights.values() if w <= observed) / total)


_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188)


def _stirlerr(n: float) -> float:
    """log(n!) - log(sqrt(2 pi n) (n/e)^n): small for any n, so counts of 1e18 keep their precision
    where lgamma's own (hundreds of units in the last place of 1e19) would swamp a table's odds."""
    if n <= 15:
        return math.lgamma(n + 1) - (n + 0.5) * math.log(n) + n - 0.5 * math.log(2 * math.pi)
    square, term, total = 1 / (n * n), 1 / n, 0.0
    for coefficient in _STIRLING:
        total += coefficient * term
        term *= square
    return total


def _bd0(x: float, mean: float) -> float:
    """x log(x / mean) + mean - x, precise when x is close to mean (Loader's deviance term)."""
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        total, power = (x - mean) * v, 2 * x * v
        for j in range(3, 1000, 2):
            power *= v * v
            before, total = total, total + power / j
            if total == before:
                break
        return total
    return x * math.log(x / mean) + mean - x


def _log_binom_pmf(x: int, n: int, p: float, q: float) -> float:
    """log P(Binomial(n, p) = x), q = 1 - p given apart, to the relative precision of its terms."""
    if x == 0:
        return 0.0 if n == 0 else -_bd0(n, n * q) - n * p if p < 0.1 else n * math.log(q)
    if x == n:
        return -_bd0(n, n * p) - n * q if q < 0.1 else n * math.log(p)
    core = _stirlerr(n) - _stirlerr(x) - _stirlerr(n - x) - _bd0(x, n * p) - _bd0(n - x, n * q)
    return core - 0.5 * (math.log(2 * math.pi) + math.log(x) + math.log1p(-x / n))


def _fisher_large(a: int, b: int, c: int, d: int) -> float:
    """Fisher's p-value of a large table: the hypergeometric probabilities are unimodal, so the
    tables no more likely than the observed one are two tails, found by bisection on each side of
    the mode and summed outward from their inner ends until a term no longer changes the sum.

    Each probability is a ratio of binomial ones (Loader's saddle-point form), never a difference
    of log-factorials, so it keeps its precision at 1e18 samples. A tail of more than _TERMS
    tables (a spread that wide is smooth) is summed at a stride, each term standing for the
    tables around it, within about (stride / spread)^2 of the whole sum."""
    row1, row2, col1 = a + b, c + d, a + c
    total_n = row1 + row2
    low, high = max(0, col1 - row2), min(row1, col1)
    if low == high:
        return 1.0
    share = col1 / total_n
    rest = (total_n - col1) / total_n
    log_total = _log_binom_pmf(col1, total_n, share, rest)

    def log_p(x: int) -> float:
        return _log_binom_pmf(x, row1, share, rest) + _log_binom_pmf(col1 - x, row2, share, rest) - log_total

    mode = min(max((col1 + 1) * (row1 + 1) // (total_n + 2), low), high)
    limit = log_p(a) + math.log1p(_RELATIVE)
    if log_p(mode) <= limit:
        return 1.0  # the observed table is as likely as the likeliest one
    # the left tail is [low, left], the right one [right, high]; each found by bisection
    left_lo, left_hi = low - 1, mode  # log_p(left_hi) > limit; left_lo counts as <= limit
    while left_hi - left_lo > 1:
        middle = (left_lo + left_hi) // 2
        left_lo, left_hi = (middle, left_hi) if log_p(middle) <= limit else (left_lo, middle)
    right_lo, right_hi = mode, high + 1
    while right_hi - right_lo > 1:
        middle = (right_lo + right_hi) // 2
        right_lo, right_hi = (right_lo, middle) if log_p(middle) <= limit else (middle, right_hi)
    spread = math.sqrt(max(1.0, row1 * row2 * share * rest / total_n))  # the hypergeometric's deviation
    stride = 2 * int(spread * 20 / _TERMS) + 1  # odd: a block of tables has one at its middle
    total = 0.0
    for start, stop, step in ((left_lo, low - 1, -1), (right_hi, high + 1, 1)):
        if (stop - start) * step <= 0:
            continue
        # the first table counts for itself; each block of stride tables outward from it, the
        # block's middle one times its size (the midpoint rule, exact for stride 1)
        tail = math.exp(log_p(start))
        for x in range(start + step, stop, step * stride):
            size = min(stride, abs(stop - x))
            term = math.exp(log_p(x + step * (size // 2))) * size
            tail += term
            if term <= tail * 1e-17:
                break
        total += tail
    return min(1.0, total)


_TERMS = 20_000  # tables a tail is summed over one by one; a wider one is summed at a stride


# ---------------------------------------------------------------- intervals and power


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below this point
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * fraction


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom (df may be fractional, as Welch's is)."""
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def _t_density(t: float, df: float) -> float:
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


@functools.lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """The t value below which a share p of Student's t distribution lies.

    Newton's method from the normal quantile, kept inside a bracket that bisection narrows
    whenever a step would leave it, so it converges for every df.
    """
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2
    t = min(max(statistics.NormalDist().inv_cdf(p), low), high)
    for _ in range(100):
        error = t_cdf(t, df) - p
        if error < 0:
            low = t
        else:
            high = t
        step = error / _t_density(t, df)
        following = t - step
        if not low < following < high:
            following = (low + high) / 2
        if abs(following - t) < 1e-12 * max(1.0, t):
            return following
        t = following
    return t


@dataclass(frozen=True)
class Estimate:
    """A value with its two-sided 95% interval (None when the data cannot give one)."""

    value: float
    low: Optional[float]
    high: Optional[float]

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def holds(self, x: float) -> bool:
        return self.has_interval and self.low <= x <= self.high  # type: ignore[operator]


def _log_moments(values: Sequence[float]) -> Tuple[int, float, float]:
    logs = [math.log(v) for v in values]
    count = len(logs)
    mean = math.fsum(logs) / count
    variance = math.fsum((x - mean) ** 2 for x in logs) / (count - 1) if count > 1 else 0.0
    return count, mean, variance


def geometric_mean(values: Sequence[float], confidence: float = 0.95) -> Optional[Estimate]:
    """The geometric mean of positive rates with its t interval on the logarithms.

    Rates are ratios, so their spread is multiplicative: the interval is symmetric in log space.
    Needs two values for an interval; None without any positive value.
    """
    values = [v for v in values if v > 0]
    if not values:
        return None
    count, mean, variance = _log_moments(values)
    if count < 2:
        return Estimate(math.exp(mean), None, None)
    half = t_quantile(0.5 + confidence / 2, count - 1) * math.sqrt(variance / count)
    return Estimate(math.exp(mean), math.exp(mean - half), math.exp(mean + half))


def ratio_of_rates(baseline: Sequence[float], measured: Sequence[float], confidence: float = 0.95) -> Optional[Estimate]:
    """How many times faster the baseline's operations are than the measured ones, with an interval.

    The ratio of geometric means; its interval is Welch's t interval on the difference of the mean
    logarithms (unequal variances, fractional degrees of freedom). Two values a side for an interval.
    """
    baseline = [v for v in baseline if v > 0]
    measured = [v for v in measured if v > 0]
    if not baseline or not measured:
        return None
    n_b, mean_b, var_b = _log_moments(baseline)
    n_m, mean_m, var_m = _log_moments(measured)
    centre = mean_b - mean_m
    if n_b < 2 or n_m < 2:
        return Estimate(math.exp(centre), None, None)
    se_b, se_m = var_b / n_b, var_m / n_m
    spread = se_b + se_m
    if spread == 0:
        return Estimate(math.exp(centre), math.exp(centre), math.exp(centre))
    df = spread * spread / (se_b * se_b / (n_b - 1) + se_m * se_m / (n_m - 1))
    df = max(1.0, math.floor(df * 10) / 10)  # down to a tenth: a slightly wider interval, and few distinct quantiles
    half = t_quantile(0.5 + confidence / 2, df) * math.sqrt(spread)
    return Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half))


def never_seen_bound(trials: int, confidence: float = 0.95) -> float:
    """The highest rate still consistent, at ``confidence``, with an event never seen in ``trials``.

    The exact one-sided binomial bound: (1 - p)^n = 1 - confidence, so p = 1 - (1 - confidence)^(1/n).
    """
    if trials <= 0:
        return 1.0
    return 1.0 - (1.0 - confidence) ** (1.0 / trials)


def tells_from_never(count: int, trials: int, other_trials: int, alpha: float) -> bool:
    """Would ``count`` of ``trials`` on one side against none of ``other_trials`` on the other be
    significant? If not, these repeats cannot tell that rate from "never"."""
    return fisher_exact(count, trials - count, 0, other_trials) < alpha


# Beyond this many repeats a side, a suggestion says "more than" instead of a number.
MAX_SUGGESTED_REPEATS = 1000
# The chance of a significant result a suggested repeat count aims for, as power analyses do.
SUGGESTED_POWER = 0.8


def _first(low: int, high: int, holds: Callable[[int], bool]) -> int:
    """The smallest n in [low, high] for which ``holds`` is true, by bisection; ``holds(high)`` is."""
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return high


def fewest_telling_count(trials: int, other_trials: int, alpha: float) -> Optional[int]:
    """The fewest of ``trials`` that, against none of ``other_trials``, is significant (None: not
    even all of them). The p-value falls as the count grows, so a bisection finds it."""
    if trials < 1 or not tells_from_never(trials, trials, other_trials, alpha):
        return None
    return _first(1, trials, lambda count: tells_from_never(count, trials, other_trials, alpha))


def other_side_to_tell(count: int, trials: int, alpha: float) -> Optional[int]:
    """The fewest repeats on the other side that, never showing it, would tell ``count`` of
    ``trials`` from "never" (None: not even MAX_SUGGESTED_REPEATS would). The p-value falls as the
    other side grows, so a bisection finds it."""
    if count < 1 or not tells_from_never(count, trials, MAX_SUGGESTED_REPEATS, alpha):
        return None
    return _first(1, MAX_SUGGESTED_REPEATS, lambda other: tells_from_never(count, trials, other, alpha))


def _binomial_tail(trials: int, rate: float, at_least: int) -> float:
    """P(X >= at_least) for X ~ Binomial(trials, rate), in log space so large counts stay finite."""
    if rate >= 1.0:
        return 1.0 if at_least <= trials else 0.0
    log_p, log_q = math.log(rate), math.log1p(-rate)
    total = 0.0
    for k in range(at_least, trials + 1):
        total += math.exp(math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)
                          + k * log_p + (trials - k) * log_q)
    return min(1.0, total)


def power_against_never(rate: float, trials: int, alpha: float) -> float:
    """The chance that ``trials`` repeats at ``rate`` on one side, against as many that never show
    it, give a significant Fisher exact test at ``alpha``."""
    needed = fewest_telling_count(trials, trials, alpha)
    return 0.0 if needed is None or rate <= 0 else _binomial_tail(trials, rate, needed)


def repeats_to_tell_from_never(rate: float, alpha: float, power: float = SUGGESTED_POWER) -> Optional[int]:
    """About how many repeats a side tell ``rate`` from "never" with ``power``: the fewest at which
    the test would be significant that often. None when more than MAX_SUGGESTED_REPEATS are needed.

    Fisher's test is discrete, so its power is not quite monotone in the repeats: a doubling finds
    a count that suffices, a bisection narrows it, which is why a suggestion says "about".
    """
    if rate <= 0:
        return None
    high = 1
    while power_against_never(rate, high, alpha) < power:
        if high >= MAX_SUGGESTED_REPEATS:
            return None
        high = min(high * 2, MAX_SUGGESTED_REPEATS)
    return _first(high // 2 + 1, high, lambda trials: power_against_never(rate, trials, alpha) >= power)


def samples_to_tell_from_never(rate: float, alpha: float, power: float = SUGGESTED_POWER) -> Optional[int]:
    """About how many samples a side tell ``rate`` from "never" with ``power``, for the millions of
    samples a stress test takes: the count that would be significant against none (at a reference
    of a million a side, where it no longer depends on the number), reached that often by a
    Poisson count of mean ``rate`` times the samples. None for a rate of 0."""
    if rate <= 0:
        return None
    reference = 1_000_000
    needed = fewest_telling_count(reference, reference, alpha)
    if needed is None:
        return None

    def reached(mean: float) -> bool:  # P(Poisson(mean) >= needed) >= power
        term, below = math.exp(-mean), 0.0
        for k in range(needed):
            below += term
            term *= mean / (k + 1)
        return 1.0 - below >= power

    low, high = 0.0, float(needed)
    while not reached(high):
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (low, middle) if reached(middle) else (middle, high)
    return max(1, math.ceil(high / rate))
