"""A stress run's result.json read back: the real fixtures judged consistent, and every doctored claim named."""

import copy
import json
import re
from pathlib import Path

import pytest

import synclab
from synclab.kernel.stress.api import declaration
from synclab.kernel.stress.engine import run_stress
from synclab.records import resultfile
from synclab.records.stressjudge import Unusable, judge_stress

FIXTURES = Path(__file__).parent / "fixtures" / "stress"
NAMES = sorted(path.name for path in FIXTURES.glob("*.json"))


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_there_are_stress_fixtures_of_the_current_schema() -> None:
    assert {(_fixture(name)["schema_version"], _fixture(name)["workload"]) for name in NAMES} == {
        (resultfile.SCHEMA_VERSION, "stress")}
    assert len(NAMES) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_each_fixture_is_judged_consistent_with_its_grades_rederived(name: str) -> None:
    data = _fixture(name)
    judged = judge_stress(data)
    assert judged.inconsistencies == ()
    for test, stored in zip(judged.tests, data["tests"]):
        assert [(o.outcome, o.count, o.grade) for o in test.outcomes] == [
            (o["outcome"], o["count"], o["grade"]) for o in stored["outcomes"]]
        assert sum(o.count for o in test.outcomes) == test.samples == stored["samples"]
    assert judged.gil_enabled == data["gil"]["enabled"]


def test_the_readme_names_the_command_behind_every_fixture() -> None:
    section = (FIXTURES.parent / "README.md").read_text().split("\n## stress/")[1]
    notes = dict(re.findall(r"^- `([^`]+)`: `([^`]+)`", section, re.MULTILINE))
    assert sorted(notes) == NAMES
    for name, command in notes.items():
        target = command.split("make_fixture.py ")[1].split()[0]
        assert _fixture(name)["config"]["target"] == target
        assert (FIXTURES / target.split(":")[0]).is_file()


def test_the_fixtures_show_what_their_runs_saw() -> None:
    racy = judge_stress(_fixture("result-schema4-stress-free-threaded.json"))
    assert racy.gil_enabled is False and racy.tests[0].status == "interesting"
    failing = judge_stress(_fixture("result-schema4-stress-error.json")).tests[0]
    assert failing.status == "forbidden" and "RuntimeError: every third state" in failing.error


def _doctored(change) -> dict:
    data = copy.deepcopy(_fixture("result-schema4-stress-free-threaded.json"))
    change(data)
    return data


@pytest.mark.parametrize("change, said", [
    (lambda d: d["tests"][0]["outcomes"][1].update(grade="acceptable"),
     "outcome '1' graded acceptable, its declaration says interesting"),
    (lambda d: d["tests"][0]["outcomes"][0].update(count=d["tests"][0]["outcomes"][0]["count"] + 1),
     "its outcome counts add up to"),
    (lambda d: d["tests"][0].update(samples_per_s=1e9), "samples_per_s 1000000000.0"),
    (lambda d: d["tests"][0].update(strides=1), "1 strides of 1000 are 1,000 samples"),
    (lambda d: (d["tests"][0].update(gil_enabled=True)), "claims the GIL was disabled throughout; a test ran with it"),
    (lambda d: d["tests"][0]["outcomes"].append(dict(d["tests"][0]["outcomes"][1])), "outcome '1' listed twice"),
])
def test_a_doctored_claim_is_named(change, said: str) -> None:
    judged = judge_stress(_doctored(change))
    assert any(said in line for line in judged.inconsistencies), judged.inconsistencies


def test_a_declaration_edited_to_grade_the_race_acceptable_is_believed_for_grades_only() -> None:
    """The declaration is what the test said; re-grading by it is consistent, and the counts still show the race."""
    def relabel(d):
        d["tests"][0]["declared"][1]["grade"] = "acceptable"
        d["tests"][0]["outcomes"][1]["grade"] = "acceptable"
    judged = judge_stress(_doctored(relabel))
    assert judged.inconsistencies == ()
    assert [(o.outcome, o.grade) for o in judged.tests[0].outcomes][1] == ("1", "acceptable")


@pytest.mark.parametrize("change, field", [
    (lambda d: d.update(workload="balance"), "not a stress run's (its workload reads 'balance')"),
    (lambda d: d.update(schema_version=3), "not a stress run's (its workload reads 'balance')"),
    (lambda d: d.update(tests=[]), "records no tests"),
    (lambda d: d.update(tests={}), "no tests list"),
    (lambda d: d["tests"][0].update(samples=-1), "tests[0].samples"),
    (lambda d: d["tests"][0].update(samples="many"), "tests[0].samples"),
    (lambda d: d["tests"][0]["outcomes"][0].update(count=0), "tests[0].outcomes[0].count"),
    (lambda d: d["tests"][0]["outcomes"][0].update(outcome=None), "tests[0].outcomes[0].outcome"),
    (lambda d: d["tests"][0].update(outcomes=[{"outcome": "2", "count": 1, "grade": "acceptable"}] * 2000),
     "tests[0].outcomes"),
    (lambda d: d["tests"][0]["declared"][0].update(regex=True, key="(unclosed"), "tests[0].declared[0].key"),
    (lambda d: d["tests"][0]["declared"][0].update(grade="fine"), "tests[0].declared[0].grade"),
    (lambda d: d["tests"][0].update(default="maybe"), "tests[0].default"),
    (lambda d: d["tests"][0].update(seconds=float("nan")), "tests[0].seconds"),
    (lambda d: d["tests"][0].update(time_budget_s="long"), "tests[0].time_budget_s"),
    (lambda d: d["tests"][0].update(time_budget_s=-1.0), "tests[0].time_budget_s"),
    (lambda d: d["tests"][0].update(gil_enabled="no"), "tests[0].gil_enabled"),
    (lambda d: d.update(config=[]), "no config object"),
])
def test_a_field_that_cannot_be_read_makes_the_record_unusable_naming_it(change, field: str) -> None:
    with pytest.raises(Unusable) as raised:
        judge_stress(_doctored(change))
    assert field in str(raised.value) and "\n" not in str(raised.value)


def test_what_a_live_run_writes_is_judged_consistent() -> None:
    @synclab.stress(outcomes={"1": synclab.ACCEPTABLE, synclab.match(r"\d+"): synclab.INTERESTING("odd")})
    class One:
        def __init__(self):
            pass

        def actor1(self):
            return 1

    result = run_stress(declaration(One), time_budget_s=0.01, stride=10)
    data = json.loads(json.dumps(resultfile.stress_document({"target": "x"}, [result], {"implementation": "CPython"})))
    judged = judge_stress(data)
    assert judged.inconsistencies == () and judged.tests[0].to_dict()["outcomes"] == data["tests"][0]["outcomes"]
