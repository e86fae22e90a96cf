"""The report's statistics against values computed by hand."""

import math

import pytest

from synclab.kernel.outcome import drift_stats
from synclab.reports.stats import Z95, baseline_key, median, wilson


def test_z_is_the_two_sided_95_percent_quantile():
    # Phi(1.959964) = 0.975
    assert 0.5 * math.erfc(-Z95 / math.sqrt(2)) == pytest.approx(0.975, abs=1e-9)


@pytest.mark.parametrize(
    "successes, trials, low, high",
    [
        # 0/10: low is 0, high = z^2 / (n + z^2) = 3.8415 / 13.8415
        (0, 10, 0.0, 0.277533),
        # 5/10: centre 0.5, half-width z*sqrt(0.025 + z^2/400) / (1 + z^2/10) = 0.263407
        (5, 10, 0.236593, 0.763407),
        # 10/10 mirrors 0/10
        (10, 10, 0.722467, 1.0),
        # 1/3: centre (1/3 + z^2/6) / (1 + z^2/3) = 0.426916,
        #      half-width z*sqrt(2/27 + z^2/36) / (1 + z^2/3) = 0.365424
        (1, 3, 0.061492, 0.792340),
        # 1/1
        (1, 1, 0.206549, 1.0),
    ],
)
def test_wilson_interval_matches_hand_computation(successes, trials, low, high):
    got = wilson(successes, trials)
    assert got is not None
    assert got[0] == pytest.approx(low, abs=1e-6)
    assert got[1] == pytest.approx(high, abs=1e-6)


def test_wilson_interval_contains_the_rate_and_stays_in_0_1():
    for trials in (1, 2, 7, 50, 1000):
        for successes in range(0, trials + 1, max(1, trials // 7)):
            low, high = wilson(successes, trials)
            assert 0.0 <= low <= successes / trials <= high <= 1.0


def test_wilson_without_trials_knows_nothing_and_rejects_impossible_counts():
    assert wilson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(11, 10)
    with pytest.raises(ValueError):
        wilson(-1, 10)


def test_drift_stats_by_hand():
    stats = drift_stats([1, 2, 3, 4])
    assert stats.count == 4
    assert stats.mean == 2.5
    # squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n - 1 = 3
    assert stats.stdev == pytest.approx(math.sqrt(5 / 3))
    assert (stats.min, stats.max) == (1, 4)


def test_drift_stats_of_signed_drifts():
    stats = drift_stats([-300, 0, 600])
    assert stats.mean == 100
    # deviations -400, -100, 500 -> 160000 + 10000 + 250000 = 420000, / 2
    assert stats.stdev == pytest.approx(math.sqrt(210000))
    assert (stats.min, stats.max) == (-300, 600)


def test_drift_stats_of_one_and_of_none():
    one = drift_stats([7])
    assert (one.count, one.mean, one.stdev, one.min, one.max) == (1, 7, None, 7, 7)
    empty = drift_stats([])
    assert (empty.count, empty.mean, empty.stdev, empty.min, empty.max) == (0, None, None, None, None)


def test_median_ignores_missing_values():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([None, 5.0, None]) == 5.0
    assert median([None, None]) is None
    assert median([]) is None


def test_baseline_key_ignores_only_what_does_not_change_the_work():
    explicit = {"primitive": "process", "lock": "explicit", "workers": 2, "repeats": 3, "timeout_s": 5.0,
                "grades.lost_updates": "forbidden"}
    none = {"primitive": "process", "lock": "none", "workers": 2, "repeats": 10, "timeout_s": 60.0}
    assert baseline_key(explicit) == baseline_key(none)
    assert baseline_key({**none, "workers": 4}) != baseline_key(explicit)
    assert baseline_key({**none, "primitive": "thread"}) != baseline_key(explicit)
