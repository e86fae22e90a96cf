"""The answer table: a row per interpreter and GIL state, a column per value of a key, lost
updates out of repeats in each cell, from real results (the kernel's own documents)."""

import json
from pathlib import Path

import pytest

from synclab.commands.cli import main
from synclab.kernel.runner import run_experiment
from synclab.kernel.spec import ExperimentSpec
from synclab.records.resultfile import document
from synclab.reports.answer import answer
from synclab.reports.report import build, row_from_result

RUNTIMES = {
    "gil": {"implementation": "CPython", "version": "3.11.7", "free_threaded": False, "gil_enabled": True},
    "ft-on": {"implementation": "CPython", "version": "3.13.5", "free_threaded": True, "gil_enabled": True},
    "ft-off": {"implementation": "CPython", "version": "3.13.5", "free_threaded": True, "gil_enabled": False},
}


def _result(increment, runtime, initial=0, gil=None):
    """A real run's document, under a recorded interpreter. A lost update is made by starting the
    balance elsewhere than the spec says, so the judge sees drift (no timing involved)."""
    spec = ExperimentSpec(primitive="thread", workers=2, times=50, repeats=3, increment=increment,
                          direction="deposit", gil=gil)
    data = document(run_experiment(spec))
    for run in data["runs"][:initial]:  # this many repeats lost 7 updates
        run["after"] -= 7
        run["drift"] -= 7
        run["outcome"] = "lost_updates"
        run["grade"] = "interesting"
    data["summary"] = None  # the doctored numbers are what the judge counts
    data["interpreter"] = {**RUNTIMES[runtime], "start_method": "fork"}
    data["gil"] = {**data["gil"], "enabled": RUNTIMES[runtime]["gil_enabled"],
                   "enabled_at_start": RUNTIMES[runtime]["gil_enabled"]}
    for run in data["runs"]:
        run["gil_enabled"] = RUNTIMES[runtime]["gil_enabled"]
    return data


@pytest.fixture(scope="module")
def report():
    rows = []
    for index, (increment, runtime, lost) in enumerate([
        ("inplace", "gil", 0), ("read_call_write", "gil", 3),
        ("inplace", "ft-off", 3), ("read_call_write", "ft-off", 2),
        ("inplace", "ft-on", 0), ("read_call_write", "ft-on", 1),
    ]):
        rows.append(row_from_result(_result(increment, runtime, lost), path=str(index)))
    return build("sweep", rows)


def test_each_interpreter_and_gil_state_is_a_row_and_each_increment_a_column(report):
    text = answer(report, "increment")
    lines = text.splitlines()
    assert lines[0] == "lost updates: repeats that lost any / repeats [95% CI], by increment"
    assert lines[1].split() == ["interpreter", "build", "GIL", "inplace", "read_call_write"]
    body = [line.split("  ") for line in lines[3:]]
    cells = [[cell.strip() for cell in line if cell.strip()] for line in body]
    assert cells == [
        ["CPython 3.11.7", "with GIL", "enabled", "0/3 [0.00, 0.56]", "3/3 [0.44, 1.00]"],
        ["CPython 3.13.5", "free-threaded", "enabled", "0/3 [0.00, 0.56]", "1/3 [0.06, 0.79]"],
        ["CPython 3.13.5", "free-threaded", "disabled", "3/3 [0.44, 1.00]", "2/3 [0.21, 0.94]"],
    ]


def test_the_gil_state_is_what_the_repeats_recorded_not_the_label(report):
    data = _result("inplace", "ft-off", 1)
    data["interpreter"]["gil_enabled"] = True  # a label its repeats contradict
    row = row_from_result(data, path="x")
    assert row.inconsistencies == ("claims interpreter.gil_enabled True; no repeat ran with the GIL",)
    assert answer(build("x", [row]), "increment").splitlines()[3].split()[3] == "disabled"


def test_the_null_increment_is_shown_as_the_increment_that_ran():
    row = row_from_result(_result(None, "gil"), path="0")
    assert "inplace" in answer(build("r", [row]), "increment").splitlines()[1]


def test_a_key_no_run_records_gives_no_table(report):
    assert answer(report, "no_such_key") is None


def test_report_prints_the_answer_table_and_refuses_it_where_it_cannot(report, tmp_path, capsys):
    for index, increment in enumerate(("inplace", "read_call_write")):
        (tmp_path / str(index)).mkdir()
        (tmp_path / str(index) / "result.json").write_text(json.dumps(_result(increment, "ft-off", index + 1)))
    assert main(["report", str(tmp_path), "--answer", "increment"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("CPython 3.13.5  free-threaded  disabled  1/3 [0.06, 0.79]  2/3 [0.21, 0.94]")
    assert main(["report", str(tmp_path), "--answer", "increment", "--format", "csv"]) == 2
    assert "--answer: prints a table" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--answer", "colour"]) == 2
    assert "--answer: no run here records a setting 'colour'" in capsys.readouterr().err


def test_a_run_whose_gil_came_back_is_a_row_of_its_own():
    data = _result("inplace", "ft-off", 2)
    data["runs"][2]["gil_enabled"] = True  # the GIL came back before the last repeat ended
    data["gil"].update(enabled=True, came_back=True, reenabled_by=["fastjson"])
    data["interpreter"]["gil_enabled"] = True
    rows = [row_from_result(data, path="0"), row_from_result(_result("inplace", "ft-on", 0), path="1")]
    assert all(row.inconsistencies == () for row in rows)
    states = [line.split("  ")[2:4] for line in answer(build("s", rows), "increment").splitlines()[3:]]
    assert [[cell.strip() for cell in state if cell.strip()][0] for state in states] == ["enabled", "came back"]


def test_a_sweep_summary_asked_for_an_answer_writes_it_beside_the_summary(tmp_path):
    from synclab.reports.report import collect
    from synclab.reports.summary import summarize_sweep

    for index, increment in enumerate(("inplace", "read_call_write")):
        (tmp_path / str(index)).mkdir()
        (tmp_path / str(index) / "result.json").write_text(json.dumps(_result(increment, "gil", index)))
    written = summarize_sweep(tmp_path, plots=False, table=False, answer_by="increment")
    assert tmp_path / "answer.md" in written
    assert (tmp_path / "answer.md").read_text() == answer(collect(tmp_path), "increment")
    assert summarize_sweep(tmp_path, plots=False, table=False) == [tmp_path / "summary.csv", tmp_path / "summary.md"]


STRESS_FIXTURES = Path(__file__).parent / "fixtures" / "stress"


def _stress_sweep(tmp_path, *jobs):
    """A sweep directory of stress runs, each a real record (tests/fixtures/stress) with the edits given."""
    for index, (name, edit) in enumerate(jobs):
        data = json.loads((STRESS_FIXTURES / f"result-schema4-stress-{name}.json").read_text())
        edit(data)
        (tmp_path / str(index)).mkdir()
        (tmp_path / str(index) / "result.json").write_text(json.dumps(data))
    return tmp_path


def _gil_on(data):
    """The free-threaded record as if its test had run with the GIL enabled throughout."""
    data["interpreter"]["gil_enabled"] = True
    for test in data["tests"]:
        test["gil_enabled"] = test["gil_enabled_at_start"] = True
    data["gil"] = {**data["gil"], "enabled": True, "enabled_at_start": True}


def test_the_tests_answer_has_a_row_per_stress_test_and_a_column_per_interpreter_and_gil_state(tmp_path, capsys):
    def same(data):
        return None

    sweep = _stress_sweep(tmp_path, ("free-threaded", same), ("error", same), ("free-threaded", _gil_on))
    assert main(["report", str(sweep), "--answer", "tests"]) == 0
    table = capsys.readouterr().out.split("stress tests: ", 1)[1].splitlines()
    header = [cell.strip() for cell in table[1].split("  ") if cell.strip()]
    # interpreters in version order, the GIL on before off; the third job is a column of its own
    assert header == ["test", "CPython 3.11.7, GIL on", "CPython 3.13.5t, GIL on", "CPython 3.13.5t, GIL off"]
    rows = {line.split()[0]: [cell.strip() for cell in line.split("  ") if cell.strip()][1:] for line in table[3:]}
    assert rows["CounterIncrement"] == ["-", "lost update in 711 of 587,000", "lost update in 711 of 587,000"]
    assert rows["RaisesOnEveryThirdState"] == ["FORBIDDEN 'error' in 13,200 of 39,600", "-", "-"]


def test_two_jobs_on_one_interpreter_and_gil_state_are_one_column_with_their_samples_summed(tmp_path):
    from synclab.reports.report import collect

    def same(data):
        return None

    table = answer(collect(str(_stress_sweep(tmp_path, ("free-threaded", same), ("free-threaded", same)))), "tests")
    lines = table.splitlines()
    assert lines[1].split("  ")[-1].strip() == "CPython 3.13.5t, GIL off"
    assert lines[3].split("  ")[-1].strip() == "lost update in 1,422 of 1,174,000"


def test_the_tests_answer_is_refused_where_no_stress_run_is(report, tmp_path, capsys):
    assert answer(report, "tests") is None
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "result.json").write_text(json.dumps(_result("inplace", "gil")))
    assert main(["report", str(tmp_path), "--answer", "tests"]) == 2
    assert capsys.readouterr().err.strip() == ("synclab report: --answer tests: no stress run here (workload=stress); "
                                               "a balance run's table takes a setting, such as increment")
