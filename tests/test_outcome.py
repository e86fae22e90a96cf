"""classify(): one outcome per repeat, questions asked in order; grades: defaults and overrides;
classify_repeat() and summarize() built on them."""

from typing import Optional

import pytest

from synclab.kernel.outcome import GRADES, OUTCOMES, classify, default_grades, grade_table
from synclab.kernel.primitives.workers import RawRepeat
from synclab.kernel.results import classify_repeat
from synclab.records.resultfile import summarize
from synclab.kernel.spec import ExperimentSpec


def outcome(
    *,
    expected: int = 100,
    after: Optional[int] = 100,
    ops_expected: int = 20,
    ops_reported: int = 20,
    ops_done: int = 20,
    failed_workers: int = 0,
    timed_out: bool = False,
) -> str:
    return classify(
        expected=expected,
        after=after,
        ops_expected=ops_expected,
        ops_reported=ops_reported,
        ops_done=ops_done,
        failed_workers=failed_workers,
        timed_out=timed_out,
    )


CASES = [
    # every operation landed, balance exact
    ("consistent", {}),
    ("consistent", {"expected": -5, "after": -5}),
    # every operation landed, balance off either way
    ("lost_updates", {"after": 99}),
    ("lost_updates", {"after": 101}),
    ("lost_updates", {"after": 0}),
    # workers reported everything, the shared count saw none or part of it
    ("not_shared", {"ops_done": 0}),
    ("not_shared", {"ops_done": 10}),
    ("not_shared", {"ops_done": 0, "after": 0}),  # an unmoved balance is not a "no race"
    # a worker died or fewer operations were reported
    ("incomplete", {"failed_workers": 1}),
    ("incomplete", {"failed_workers": 2, "ops_reported": 0, "ops_done": 0}),
    ("incomplete", {"ops_reported": 19, "ops_done": 19}),
    ("incomplete", {"after": None}),  # the balance could not be read
    ("incomplete", {"failed_workers": 1, "ops_done": 0}),  # incomplete is asked before not_shared
    ("incomplete", {"failed_workers": 1, "after": 7}),  # and before lost_updates
    # a timeout trumps everything
    ("timeout", {"timed_out": True}),
    ("timeout", {"timed_out": True, "after": None, "ops_reported": 0, "ops_done": 0, "failed_workers": 2}),
    ("timeout", {"timed_out": True, "after": 50}),
]


@pytest.mark.parametrize("expected_outcome, values", CASES)
def test_classify(expected_outcome: str, values: "dict[str, object]") -> None:
    assert outcome(**values) == expected_outcome  # type: ignore[arg-type]


def test_every_outcome_is_reachable() -> None:
    assert {name for name, _ in CASES} == set(OUTCOMES)


def test_default_grades_without_a_lock() -> None:
    assert default_grades("none") == {
        "consistent": "acceptable",
        "lost_updates": "interesting",
        "not_shared": "forbidden",
        "incomplete": "forbidden",
        "timeout": "forbidden",
    }


@pytest.mark.parametrize("lock", ["explicit", "decorator", "context", "rlock", "semaphore", "local_sum"])
def test_default_grades_with_a_lock_allow_only_consistent(lock: str) -> None:
    grades = default_grades(lock)
    assert set(grades) == set(OUTCOMES)
    assert grades["consistent"] == "acceptable"
    assert all(grades[o] == "forbidden" for o in OUTCOMES if o != "consistent")


def test_grade_table_applies_overrides_on_top_of_the_defaults() -> None:
    table = grade_table("explicit", {"lost_updates": "interesting", "timeout": "acceptable"})
    assert table == {
        "consistent": "acceptable",
        "lost_updates": "interesting",
        "not_shared": "forbidden",
        "incomplete": "forbidden",
        "timeout": "acceptable",
    }
    assert grade_table("none", None) == default_grades("none")
    assert grade_table("none", {}) == default_grades("none")
    assert set(table.values()) <= set(GRADES)


def test_a_grade_table_is_the_callers_own() -> None:
    """Overrides and later edits of a returned table never reach the defaults or another table."""
    overridden = grade_table("none", {"consistent": "forbidden"})
    edited = grade_table("none")
    edited["lost_updates"] = "forbidden"
    assert overridden["consistent"] == "forbidden" and overridden["lost_updates"] == "interesting"
    assert grade_table("none") == default_grades("none") == {
        "consistent": "acceptable", "lost_updates": "interesting", "not_shared": "forbidden",
        "incomplete": "forbidden", "timeout": "forbidden"}


def raw(**changes: object) -> RawRepeat:
    values = dict(
        before=2000, after=2000, ops_reported=2000, ops_done=2000, failed_workers=0,
        timed_out=False, wall_s=0.5, work_s=0.25,
    )
    values.update(changes)
    return RawRepeat(**values)  # type: ignore[arg-type]


def test_judge_derives_drift_rate_and_grade() -> None:
    s = ExperimentSpec(workers=2, times=1000, initial=2000, lock="none")
    result = classify_repeat(3, s, raw(after=1990))
    assert result.repeat == 3
    assert (result.before, result.after, result.expected, result.drift) == (2000, 1990, 2000, -10)
    assert (result.ops_expected, result.ops_done) == (2000, 2000)
    assert result.ops_per_s == 8000.0
    assert (result.outcome, result.grade) == ("lost_updates", "interesting")


def test_judge_uses_grade_overrides_and_handles_an_unreadable_balance() -> None:
    s = ExperimentSpec(workers=2, times=1000, lock="explicit", grades={"timeout": "acceptable"})
    result = classify_repeat(0, s, raw(after=None, ops_reported=0, ops_done=0, failed_workers=2, timed_out=True, work_s=None))
    assert (result.outcome, result.grade) == ("timeout", "acceptable")
    assert result.drift is None and result.ops_per_s is None and result.work_s is None
    locked = classify_repeat(0, s, raw(after=1999))
    assert (locked.outcome, locked.grade) == ("lost_updates", "forbidden")


def test_summarize_counts_outcomes_and_spreads_drift_of_finished_repeats_only() -> None:
    s = ExperimentSpec(workers=2, times=1000, initial=2000, lock="none")
    runs = [
        classify_repeat(0, s, raw(after=2010, work_s=0.5)),
        classify_repeat(1, s, raw(after=2000, work_s=0.25)),
        classify_repeat(2, s, raw(after=1970, work_s=0.125)),
        classify_repeat(3, s, raw(after=2000, ops_done=0)),  # not_shared: its drift says nothing
        classify_repeat(4, s, raw(after=None, timed_out=True, ops_done=0, ops_reported=0, work_s=None)),
    ]
    summary = summarize(runs)
    assert summary["repeats"] == 5
    assert summary["outcomes"] == {"lost_updates": 2, "consistent": 1, "not_shared": 1, "timeout": 1}
    assert summary["grades"] == {"interesting": 2, "acceptable": 1, "forbidden": 2}
    assert summary["forbidden"] == ["not_shared", "timeout"]
    assert (summary["drift_min"], summary["drift_max"]) == (-30, 10)
    assert summary["drift_mean"] == round((10 + 0 - 30) / 3, 3)
    assert summary["ops_per_s_median"] == 8000.0  # rates 4000, 8000, 16000


def test_summarize_of_nothing_finished() -> None:
    s = ExperimentSpec(workers=2, times=10)
    summary = summarize([classify_repeat(0, s, raw(after=None, timed_out=True, work_s=None))])
    assert summary["drift_mean"] is None and summary["drift_min"] is None and summary["ops_per_s_median"] is None
