"""The judge of a stored result: each repeat's outcome and grade from its own numbers, by hand-computed
cases for every outcome on a real repeat (tests/fixtures) with its numbers changed; every stored claim
checked; fields it cannot read named."""

import copy
import json
import re
from pathlib import Path

import pytest

from synclab.records.resultfile import SCHEMA_VERSION
from synclab.records.judge import Unusable, grading_of, judge_result
from synthetic import SCHEMA1_TIMEOUT, SCHEMA2, SCHEMA2_DEPOSIT, fixture

# What a repeat's outcome is derived from; the rest of a stored repeat are claims about it
NUMBERS = ("before", "after", "ops_reported", "ops_done", "failed_workers", "timed_out", "work_s")


def _config(**changes: object) -> dict:
    # result-schema2-deposit.json, lock=explicit: 3 workers x 10 operations of 2 from 100, and
    # direction=deposit expects 100 + 3 * 10 * 2 = 160
    return {**fixture(SCHEMA2_DEPOSIT)["config"], **changes}


def _repeat(**changes: object) -> dict:
    """That run's repeat by its numbers alone (before 100, after 160, 30 of 30 operations), then changed."""
    run = fixture(SCHEMA2_DEPOSIT)["runs"][0]
    return {**{key: run[key] for key in NUMBERS}, **changes}


def _judged(run: dict, schema: int = 2, **config: object):
    judgement = judge_result({"config": _config(**config), "runs": [run]}, schema)
    return judgement.runs[0], judgement


@pytest.mark.parametrize("changes, outcome, drift", [
    ({}, "consistent", 0),
    ({"after": 158}, "lost_updates", -2),  # one deposit of 2 lost
    ({"after": 100, "ops_done": 0}, "not_shared", -60),  # every operation reported, none reached the parent's count
    ({"failed_workers": 1, "ops_reported": 20, "ops_done": 20, "after": 140}, "incomplete", -20),  # a dead worker
    ({"after": None, "ops_reported": 30}, "incomplete", None),  # no balance could be read back
    ({"ops_reported": 29, "ops_done": 29, "after": 158}, "incomplete", -2),  # a worker stopped short
    ({"timed_out": True, "after": 130, "ops_reported": 15, "ops_done": 15}, "timeout", -30),
    ({"timed_out": True}, "timeout", 0),  # the flag decides, whatever the balance says
])
def test_every_outcome_from_its_numbers(changes, outcome, drift):
    run, judgement = _judged(_repeat(**changes))
    assert (run.outcome, run.drift) == (outcome, drift)
    assert run.grade == ("acceptable" if outcome == "consistent" else "forbidden")  # lock=explicit
    assert judgement.inconsistencies == ()  # nothing was claimed, so nothing is contradicted


def test_the_rate_is_derived_from_operations_and_time():
    run, _ = _judged(_repeat(work_s=0.002))
    assert run.ops_per_s == pytest.approx(15000.0)
    assert _judged(_repeat(work_s=None))[0].ops_per_s is None
    assert _judged(_repeat(after=100, ops_done=0))[0].ops_per_s is None


def test_grades_come_from_the_lock_under_the_runs_own_settings():
    assert grading_of({"lock": "none"})["lost_updates"] == "interesting"
    assert grading_of({"lock": "explicit"})["lost_updates"] == "forbidden"
    run, _ = _judged(_repeat(after=158), lock="none")
    assert run.grade == "interesting"
    run, _ = _judged(_repeat(timed_out=True), grades={"timeout": "acceptable", "consistent": None})
    assert run.grade == "acceptable"


def test_a_schema_1_repeat_knows_a_timeout_only_from_its_label():
    data = fixture(SCHEMA1_TIMEOUT)  # its one repeat timed out: both workers stopped, 0 of 2 operations done
    assert "timed_out" not in data["runs"][0]
    judgement = judge_result(data, 1)
    assert judgement.runs[0].outcome == "timeout" and judgement.inconsistencies == ()
    with pytest.raises(Unusable, match=r"runs\[0\]\.timed_out is None, not true or false"):
        judge_result(data, 2)  # a schema 2 repeat must say
    data["runs"][0]["outcome"] = "consistent"
    judgement = judge_result(data, 1)
    assert judgement.runs[0].outcome == "incomplete"
    assert judgement.inconsistencies == (
        "repeat 0 claims outcome consistent; its numbers say outcome incomplete, grade forbidden, drift 0",
        "summary claims outcomes {'timeout': 1} (its repeats give {'incomplete': 1}); "
        "forbidden ['timeout'] (its repeats give ['incomplete'])",
    )


@pytest.mark.parametrize("changes, line", [
    ({"outcome": "consistent", "grade": "acceptable", "after": 158},
     "repeat 0 claims outcome consistent, grade acceptable; its numbers say outcome lost_updates, grade forbidden, drift -2"),
    ({"outcome": "lost_updates"}, "repeat 0 claims outcome lost_updates; its numbers say outcome consistent, grade acceptable, drift 0"),
    ({"grade": "interesting"}, "repeat 0 claims grade interesting; its numbers say outcome consistent, grade acceptable, drift 0"),
    ({"drift": 4}, "repeat 0 claims drift 4; its numbers say outcome consistent, grade acceptable, drift 0"),
    ({"expected": 150}, "repeat 0 claims expected 150; its numbers say outcome consistent, grade acceptable, drift 0"),
    ({"before": 90}, "repeat 0 claims before 90 (the experiment starts from 100); its numbers say outcome consistent, "
                     "grade acceptable, drift 0"),
    ({"ops_per_s": 99.0}, "repeat 0 claims ops_per_s 99.0; its numbers say outcome consistent, grade acceptable, drift 0"),
])
def test_each_stored_claim_is_checked_against_the_numbers(changes, line):
    _, judgement = _judged(_repeat(**changes))
    assert judgement.inconsistencies == (line,)


def test_a_stored_grading_table_and_repeat_count_are_claims_too():
    data = {"config": _config(repeats=2), "runs": [_repeat()],
            "grading": {"consistent": "acceptable", "lost_updates": "acceptable"}}
    assert judge_result(data, 2).inconsistencies == (
        "grading claims lost_updates=acceptable; the rules for lock=explicit and its grades settings say "
        "consistent=acceptable, lost_updates=forbidden, not_shared=forbidden, incomplete=forbidden, timeout=forbidden",
        "records 1 repeats, its configuration asks for 2",
    )


def test_a_summary_is_recomputed_never_copied():
    data = fixture(SCHEMA2)  # lock=none: drifts 0, 10 and 16
    data["summary"]["outcomes"] = {"consistent": 3}
    assert judge_result(data, 2).inconsistencies == (
        "summary claims outcomes {'consistent': 3} (its repeats give {'consistent': 1, 'lost_updates': 2})",)
    data["summary"]["outcomes"] = {"consistent": 1, "lost_updates": 2}
    data["summary"]["drift_mean"] = 0.0
    assert judge_result(data, 2).inconsistencies == ("summary claims drift_mean 0.0 (its repeats give 8.667)",)


def test_a_real_result_doctored_once_is_caught():
    data = fixture(SCHEMA2)  # lock=none: 2 of 3 repeats lost updates
    index = next(i for i, run in enumerate(data["runs"]) if run["outcome"] == "lost_updates")
    doctored = copy.deepcopy(data)
    doctored["runs"][index]["outcome"] = "consistent"
    doctored["runs"][index]["grade"] = "acceptable"
    lines = judge_result(doctored, 2).inconsistencies
    assert len(lines) == 1 and lines[0].startswith(f"repeat {index} claims outcome consistent, grade acceptable; "
                                                   "its numbers say outcome lost_updates, grade interesting")
    assert judge_result(doctored, 2).runs[index].outcome == "lost_updates"


@pytest.mark.parametrize("changes, reason", [
    ({"after": "160"}, "runs[0].after is '160', not an integer"),
    ({"after": True}, "runs[0].after is True, not an integer"),
    ({"ops_done": -1}, "runs[0].ops_done is -1, not an integer >= 0"),
    ({"after": 2**70}, f"runs[0].after is {2**70}, not an integer"),
    ({"work_s": float("nan")}, "runs[0].work_s is nan, not a finite number of seconds >= 0"),
    ({"timed_out": "no"}, "runs[0].timed_out is 'no', not true or false"),
    ({"outcome": 3}, "runs[0].outcome is 3, not a string"),
])
def test_a_field_of_the_wrong_type_is_named(changes, reason):
    with pytest.raises(Unusable) as raised:
        _judged(_repeat(**changes))
    assert str(raised.value) == "malformed result.json: " + reason


def test_missing_fields_and_settings_are_named():
    run = _repeat()
    del run["ops_reported"]
    with pytest.raises(Unusable, match=r"runs\[0\]\.ops_reported is missing"):
        _judged(run)
    config = _config()
    del config["times"]
    with pytest.raises(Unusable, match=r"config\.times is missing"):
        judge_result({"config": config, "runs": [_repeat()]}, 2)
    with pytest.raises(Unusable, match=r"config\.grades\.lost_updates is 'fine'"):
        _judged(_repeat(), grades={"lost_updates": "fine"})
    with pytest.raises(Unusable, match="records no repeats"):
        judge_result({"config": _config(), "runs": []}, 2)


def test_the_readmes_result_example_is_one_the_judge_accepts():
    text = (Path(__file__).parents[1] / "README.md").read_text()
    example = text.split("```json\n", 1)[1].split("\n```", 1)[0]
    data = json.loads(example)
    assert data["schema_version"] == SCHEMA_VERSION
    judged = judge_result(data, SCHEMA_VERSION)
    assert judged.inconsistencies == () and judged.gil_enabled is True


def _schema3():
    from synthetic import SCHEMA3_FREE_THREADED, fixture

    return copy.deepcopy(fixture(SCHEMA3_FREE_THREADED))


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("gil"), "gil is None, not an object"),
    (lambda d: d.update(gil=[False]), "gil is [False], not an object"),
    (lambda d: d["gil"].update(enabled_at_start="no"), "gil.enabled_at_start is 'no'"),
    (lambda d: d["gil"].update(enabled=0), "gil.enabled is 0, not true, false or null"),
    (lambda d: d["gil"].update(came_back=1), "gil.came_back is 1"),
    (lambda d: d["gil"].update(reenabled_by="numpy"), "gil.reenabled_by is 'numpy'"),
    (lambda d: d["gil"].update(reenabled_by=["x"] * 1001), "gil.reenabled_by"),
    (lambda d: d["gil"].update(reenabled_by=[3]), "gil.reenabled_by is [3]"),
    (lambda d: d["runs"][0].update(gil_enabled="yes"), "runs[0].gil_enabled is 'yes', not true, false or null"),
])
def test_a_malformed_gil_record_is_named_not_trusted(change, field):
    data = _schema3()
    change(data)
    with pytest.raises(Unusable, match=re.escape(field)):
        judge_result(data, 3)


def test_the_real_free_threaded_record_is_consistent_and_says_gil_disabled():
    judged = judge_result(_schema3(), 3)
    assert judged.inconsistencies == () and judged.gil_enabled is False


@pytest.mark.parametrize("change, claim", [
    (lambda d: d["interpreter"].update(gil_enabled=1), "interpreter.gil_enabled 1"),
    (lambda d: d["gil"].update(reenabled_by=["numpy"]), "gil.reenabled_by ['numpy']"),
    (lambda d: d["gil"].update(came_back=True), "gil.came_back True"),
])
def test_a_gil_claim_the_repeats_contradict_is_inconsistent(change, claim):
    data = _schema3()
    change(data)
    (line,) = judge_result(data, 3).inconsistencies
    assert line == f"claims {claim}; no repeat ran with the GIL"
