"""The real result.json files under tests/fixtures: every one read by the current reader and judged
consistent, every schema version of the format history among them, each named in their README with
the run that made it; and what tests/synthetic.py derives from them still judged as it claims."""

import re
from collections import Counter

import pytest

from synclab.kernel.outcome import OUTCOMES, grade_table
from synclab.records import resultfile
from synclab.records.judge import judge_result
from synclab.reports.report import collect
from synthetic import FIXTURES, REPEAT_OF, SCHEMA1, SCHEMA1_UNGRADED, SCHEMA2, fixture, fixture_bytes, job, result

NAMES = sorted(path.name for path in FIXTURES.glob("*.json"))


def test_there_are_fixtures_to_read():
    assert len(NAMES) >= 2 and SCHEMA2 in NAMES and SCHEMA1_UNGRADED in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_fixture_is_read_and_judged_consistent(name, tmp_path):
    report = collect(job(tmp_path / "run", raw=fixture_bytes(name)))  # a run directory holding it
    assert report.skipped == ()
    (row,) = report.rows
    assert row.inconsistencies == ()
    data = fixture(name)
    assert row.outcomes == dict(Counter(run["outcome"] for run in data["runs"]))
    judgement = judge_result(data, data["schema_version"])
    rules = grade_table(data["config"]["lock"], data["config"].get("grades"))
    assert [(r.outcome, r.grade) for r in judgement.runs] == [
        (run["outcome"], run.get("grade", rules[run["outcome"]])) for run in data["runs"]]


def _documented_versions():
    return [int(number) for number in re.findall(r"^- (\d+):", resultfile.__doc__, re.MULTILINE)]


def test_every_documented_version_is_read_and_has_fixtures():
    versions = sorted({fixture(name)["schema_version"] for name in NAMES})
    assert versions == _documented_versions() == list(resultfile.SCHEMA_VERSIONS)
    assert resultfile.SCHEMA_VERSION == versions[-1]


def test_each_version_holds_what_its_history_says():
    """1: no timeout flag and no interpreter, and its first files no grading either; 2: both, always;
    3: the GIL asked after every repeat, and the run's record of it; 4: its workload, and only 4."""
    by_version = {1: [], 2: [], 3: [], 4: []}
    for name in NAMES:
        data = fixture(name)
        by_version[data["schema_version"]].append(data)
    for data in by_version[1]:
        assert "interpreter" not in data and all("timed_out" not in run for run in data["runs"])
    graded = [data for data in by_version[1] if "grading" in data]
    ungraded = [data for data in by_version[1] if "grading" not in data]
    assert graded and ungraded  # both kinds of schema 1 are still read
    assert all("grade" not in run and "overrides" not in data and "host" not in data
               for data in ungraded for run in data["runs"])
    assert all(data["workload"] == "balance" for data in by_version[4]) and by_version[4]
    assert all("workload" not in data for version in (1, 2, 3) for data in by_version[version])
    for data in by_version[2] + by_version[3] + by_version[4]:
        assert isinstance(data["interpreter"], dict) and data["grading"]
        assert all(type(run["timed_out"]) is bool and "grade" in run for run in data["runs"])
    for data in by_version[2]:
        assert "gil" not in data and all("gil_enabled" not in run for run in data["runs"])
    builds = set()
    for data in by_version[3] + by_version[4]:
        states = {run["gil_enabled"] for run in data["runs"]}
        assert states == {data["gil"]["enabled"]} == {data["interpreter"]["gil_enabled"]}
        builds.add((data["interpreter"]["free_threaded"], data["gil"]["enabled"]))
    assert builds == {(False, True), (True, False)}  # a GIL build, and a free-threaded one without its GIL


def test_every_outcome_has_a_real_repeat():
    seen = {run["outcome"] for name in NAMES if fixture(name)["schema_version"] == 2 for run in fixture(name)["runs"]}
    assert seen == set(OUTCOMES)


def test_the_readme_names_the_run_behind_every_fixture():
    results_part = (FIXTURES / "README.md").read_text().split("\n## stress/")[0]  # stress runs: test_stressjudge
    notes = dict(re.findall(r"^- `([^`]+)`: (.+)$", results_part, re.MULTILINE))
    assert sorted(notes) == NAMES
    for name, note in notes.items():
        data = fixture(name)
        command = re.match(r"`python run\.py ([^`]*)` at ([0-9a-f]{7,40})\b", note)
        assert command, (name, note)
        if "overrides" in data:  # the run recorded its own command line
            assert command.group(1).split() == data["overrides"], name


# ------------------------------------------------------------------ what tests derive from them


@pytest.mark.parametrize("name", [SCHEMA2, SCHEMA1, SCHEMA1_UNGRADED])
@pytest.mark.parametrize("workers, config", [(2, {}), (1, {}), (3, {"direction": "deposit", "initial": 100}),
                                             (8, {"times": 10_000, "amount": 3})])
def test_a_derived_result_is_judged_as_it_says(name, workers, config):
    outcomes = ["consistent", "lost_updates", "not_shared", "incomplete", "timeout", "lost_updates"]
    base = fixture(name)
    overrides = ["lock=explicit"] if "overrides" in base else None
    data = result("explicit", workers, outcomes=outcomes, base=name, overrides=overrides, **config)
    assert list(data) == list(base) and list(data["config"]) == list(base["config"])
    assert all(list(run) == list(base["runs"][0]) for run in data["runs"])
    judgement = judge_result(data, data["schema_version"])
    assert judgement.inconsistencies == ()
    assert [run.outcome for run in judgement.runs] == outcomes
    # each outcome's first real repeat: in base, else in the file REPEAT_OF names
    first = {run["outcome"]: run["drift"] for source in (REPEAT_OF["lost_updates"], name)
             for run in reversed(fixture(source)["runs"])}
    assert [run.drift for run in judgement.runs][:2] == [first["consistent"], first["lost_updates"]] != [0, 0]
    assert data["config"]["workers"] == workers and data["config"]["repeats"] == len(outcomes)


def test_a_derived_result_refuses_numbers_that_say_another_outcome():
    with pytest.raises(ValueError, match="gives lost_updates, not consistent"):
        result("none", outcomes=["consistent"], drifts=[3])
