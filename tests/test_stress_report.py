"""Stress runs on disk read back by every reader: report (table, CSV, Markdown, JSON, plots, --check),
the end-of-sweep summary, verify, compare and replay. Records are real (app.stress.run_and_file into
directories laid out as a sweep leaves them, and the fixtures); hostile ones are those, doctored."""

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from synclab.app.stress import run_and_file
from synclab.commands.cli import main
from synclab.kernel.stress.spec import StressSpec
from synclab.reports.plots import MAX_STRESS_BARS, STRESS_PNG, _bars
from synclab.reports.render import render
from synclab.reports.report import collect
from synclab.reports.summary import summarize_sweep
from stresscases import FORBIDDEN, PASSING, write_tests
from synthetic import SCHEMA3, fixture, job

PNG = b"\x89PNG\r\n\x1a\n"
FIXTURES = Path(__file__).parent / "fixtures" / "stress"
FREE_THREADED = FIXTURES / "result-schema4-stress-free-threaded.json"

def _stress_job(directory: Path, target: str, stride: int) -> dict:
    overrides = ["workload=stress", f"stress.target={target}", f"stress.stride={stride}"]
    job(directory, overrides_yaml="".join(f"- {item}\n" for item in overrides))
    spec = StressSpec(target=target, time_budget_s=0.05, stride=stride)
    return run_and_file(spec, directory, extra=lambda: {"overrides": overrides})


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A stress sweep as Hydra lays one out: job 0 passes (stride 100), job 1 holds a test that fails."""
    root = tmp_path_factory.mktemp("stress-sweep")
    write_tests(root / "report_tests.py", PASSING, FORBIDDEN, suffix="Report")
    (root / "sweep").mkdir()
    (root / "sweep" / "multirun.yaml").write_text("hydra: {}\n")
    _stress_job(root / "sweep" / "0", f"{root / 'report_tests.py'}:WriteThenReadReport", 100)
    _stress_job(root / "sweep" / "1", str(root / "report_tests.py"), 200)
    return root / "sweep"


@pytest.fixture(scope="module")
def stress_run(tmp_path_factory) -> Path:
    """A stress run through run.py of one of synclab's own idioms, the locked one, as replay reads it."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("stress-run") / "run"
    done = run_cli(["workload=stress", "stress.target=synclab.kernel.stress.idioms", "stress.pattern=CounterUpdateLocked",
                    "stress.time_budget_s=0.05", f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def copy(sweep_dir, tmp_path) -> Path:
    target = tmp_path / "sweep"
    shutil.copytree(sweep_dir, target)
    return target


def _main(capsys, *args: str) -> "tuple[int, str, str]":
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _doctor(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# ------------------------------------------------------------------ reading


def test_a_stress_record_is_a_stress_job_never_skipped(sweep_dir):
    report = collect(sweep_dir)
    assert report.rows == () and report.skipped == ()
    assert [job.path for job in report.stress] == ["0", "1"]
    assert [len(job.tests) for job in report.stress] == [1, 2]
    assert "stride" in report.stress_keys and "target" in report.stress_keys
    assert report.stress[1].forbidden_tests == ("report_tests:AlwaysTwoReport",)
    assert report.stress[0].interpreter.startswith("CPython 3.")


def test_the_table_shows_each_job_as_its_histograms(sweep_dir):
    table = render(collect(sweep_dir), "table")
    assert table.count("report_tests:WriteThenReadReport  (CPython 3.") == 2
    assert "job 0 (" in table and "stride=100" in table and "job 1 (" in table
    assert "FAILED: a forbidden outcome" in table
    assert "2 stress jobs: 3 stress tests" in table and "1 failed" in table
    assert "repeats" not in table  # no balance table for a tree without balance runs


def test_check_fails_on_a_forbidden_outcome_and_passes_without_one(sweep_dir, capsys):
    code, out, err = _main(capsys, "report", sweep_dir, "--check")
    assert code == 1 and "forbidden outcomes in 1 stress test(s) (report_tests:AlwaysTwoReport) in job 1" in err
    assert "WriteThenReadReport" in out
    code, _, err = _main(capsys, "report", sweep_dir / "0", "--check")
    assert code == 0 and err == ""


def test_check_fails_on_a_record_its_counts_contradict(copy, capsys):
    def claim_more_samples(data):
        data["tests"][0]["samples"] += 1
        data["tests"][0]["outcomes"][0]["grade"] = "interesting"

    _doctor(copy / "0" / "result.json", claim_more_samples)
    code, out, err = _main(capsys, "report", copy / "0", "--check")
    assert code == 1 and "1 stress job(s) hold a record their own counts contradict" in err
    assert "graded interesting, its declaration says acceptable" in out and "it claims" in out


@pytest.mark.parametrize("change, said", [
    (lambda d: d.update(tests="none"), "no tests list"),
    (lambda d: d.update(tests=[]), "records no tests"),
    (lambda d: d["tests"][0].update(outcomes=[{"outcome": "1", "count": -3}]), "count"),
    (lambda d: d["tests"][0].update(declared=[{"key": "(", "regex": True, "grade": "acceptable"}]), "regular expression"),
    (lambda d: d.update(config=None), "no config"),
    (lambda d: d["tests"][0].update(samples="many"), "samples"),
    (lambda d: d.update(workload="other"), "workload 'other', not one this synclab reads (balance, stress)"),
    (lambda d: d.update(workload=["stress"]), "workload ['stress']"),
    (lambda d: d.update(schema_version=5), "schema_version 5 is not one this synclab reads"),
])
def test_an_unreadable_stress_record_is_skipped_with_its_reason(copy, capsys, change, said):
    _doctor(copy / "0" / "result.json", change)
    code, out, err = _main(capsys, "report", copy, "--check")
    assert code == 1 and "could not be read" in err and "Traceback" not in out + err
    assert "  0: " in out and said in out.split("skipped (1):", 1)[1]
    assert "job 1" in out  # the rest is reported


def test_csv_and_json_have_a_row_per_job_and_test(sweep_dir, capsys):
    code, out, _ = _main(capsys, "report", sweep_dir, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["job"], r["test"], r["status"]) for r in rows] == [
        ("0", "report_tests:WriteThenReadReport", "acceptable"),
        ("1", "report_tests:WriteThenReadReport", "acceptable"),
        ("1", "report_tests:AlwaysTwoReport", "forbidden")]
    failed = rows[2]
    assert int(failed["forbidden"]) == int(failed["samples"]) > 0 and float(failed["forbidden_rate"]) == 1.0
    assert failed["outcomes"] == f"2={failed['samples']}" and failed["never_seen_below"] == ""
    passed = rows[0]
    assert passed["forbidden"] == passed["interesting"] == "0" and 0 < float(passed["never_seen_below"]) < 1
    assert passed["stride"] == "100" and rows[1]["stride"] == "200"
    code, out, _ = _main(capsys, "report", sweep_dir, "--format", "json")
    data = json.loads(out)
    assert [r["test"] for r in data["stress"]] == [r["test"] for r in rows] and data["rows"] == []
    assert data["stress"][2]["outcomes"] == [{"outcome": "2", "count": int(failed["samples"]), "grade": "forbidden"}]


def test_a_rare_outcome_keeps_its_rate(copy):
    def rare(data):
        test = data["tests"][0]
        test["outcomes"] = [{**test["outcomes"][0], "count": test["samples"] - 1},
                            {"outcome": "0", "count": 1, "grade": "forbidden", "description": ""}]
        test["samples"] = 10_000_000
        test["outcomes"][0]["count"] = 9_999_999
        test.pop("strides")

    _doctor(copy / "0" / "result.json", rare)
    rec = json.loads(render(collect(copy / "0"), "json"))["stress"][0]
    assert rec["forbidden"] == 1 and rec["forbidden_rate"] == 1e-7 and rec["forbidden_ci_high"] > 1e-7


def test_a_tree_of_both_kinds_shows_both(copy, tmp_path, capsys):
    job(copy / "balance", fixture(SCHEMA3))
    code, out, err = _main(capsys, "report", copy)
    assert code == 0 and "repeats" in out and "report_tests:AlwaysTwoReport  (CPython" in out
    code, out, err = _main(capsys, "report", copy, "--format", "csv")
    assert "repeats" in out.splitlines()[0] and "not in this CSV: 2 stress job(s)" in err
    code, out, _ = _main(capsys, "report", copy, "--format", "json")
    data = json.loads(out)
    assert [r["job"] for r in data["rows"]] == ["balance"] and len(data["stress"]) == 3
    code, _, _ = _main(capsys, "report", copy, "--out", tmp_path / "out")
    stress_csv = (tmp_path / "out" / "stress-summary.csv").read_text()
    assert len(list(csv.DictReader(io.StringIO(stress_csv)))) == 3
    assert "## Stress tests" in (tmp_path / "out" / "summary.md").read_text()


def test_the_free_threaded_fixture_is_labelled_with_its_interpreter_and_gil(tmp_path):
    (tmp_path / "result.json").write_bytes(FREE_THREADED.read_bytes())
    table = render(collect(tmp_path), "table")
    assert "(CPython 3.13.5t, GIL disabled)" in table and "interesting: seen in" in table
    assert not table.startswith("job")  # a lone run needs no heading


# ------------------------------------------------------------------ sweeps and plots


def test_the_end_of_sweep_summary_holds_every_stress_test(copy, capsys):
    written = summarize_sweep(copy)
    assert {path.name for path in written} == {"summary.csv", "summary.md", STRESS_PNG}
    rows = list(csv.DictReader(io.StringIO((copy / "summary.csv").read_text())))
    assert [(r["job"], r["stride"], r["status"]) for r in rows] == [
        ("0", "100", "acceptable"), ("1", "200", "acceptable"), ("1", "200", "forbidden")]
    md = (copy / "summary.md").read_text()
    assert "**FORBIDDEN**" in md and "```" in md and "report_tests:AlwaysTwoReport" in md
    assert (copy / STRESS_PNG).read_bytes().startswith(PNG)
    assert "3 stress tests" in capsys.readouterr().out


def test_a_stress_sweeps_jobs_not_run_are_named(copy):
    (copy / "not-run.json").write_text(json.dumps([{"overrides": ["gil=disabled"], "reason": "no such build"}]))
    assert "not run: 1 job (gil=disabled): no such build" in render(collect(copy), "table")


def test_report_out_draws_the_histograms(sweep_dir, tmp_path, capsys):
    code, _, _ = _main(capsys, "report", sweep_dir, "--out", tmp_path)
    assert code == 0 and (tmp_path / STRESS_PNG).read_bytes().startswith(PNG)
    assert not (tmp_path / "outcomes.png").exists()  # no balance run: no balance plot


def test_many_outcomes_are_drawn_with_the_rest_in_one_bar_graded_as_its_worst():
    outcomes = [{"outcome": str(i), "count": 100 - i, "grade": "acceptable"} for i in range(30)]
    outcomes[-1]["grade"] = "forbidden"
    bars = _bars(outcomes)
    assert len(bars) == MAX_STRESS_BARS
    assert bars[-1] == (f"{30 - MAX_STRESS_BARS + 1} others", sum(100 - i for i in range(MAX_STRESS_BARS - 1, 30)),
                        "forbidden")


# ------------------------------------------------------------------ archive, verify, compare, replay


def test_an_archived_stress_run_verifies_and_a_doctored_one_does_not(copy, tmp_path, capsys):
    code, _, err = _main(capsys, "archive", copy, "-o", tmp_path / "ok.tar.gz")
    assert code == 0, err
    code, out, _ = _main(capsys, "verify", tmp_path / "ok.tar.gz")
    assert code == 0 and "every result agrees with its own numbers" in out
    _doctor(copy / "1" / "result.json", lambda d: d["tests"][1]["outcomes"][0].update(grade="acceptable"))
    code, _, err = _main(capsys, "archive", copy, "-o", tmp_path / "doctored.tar.gz")
    code, out, _ = _main(capsys, "verify", tmp_path / "doctored.tar.gz")
    assert code == 1 and "inconsistent" in out and "graded acceptable, its declaration says forbidden" in out


def test_compare_of_two_stress_sweeps_compares_each_job_test_by_test(sweep_dir, copy, capsys):
    code, out, err = _main(capsys, "compare", sweep_dir, copy)
    assert code == 0, out + err
    assert "stress job 0:" in out and "stress job 1:" in out
    assert "WriteThenReadReport reproduced: " in out  # each test's reason names its own verdict
    assert out.rstrip().splitlines()[-1] == "2 jobs compared: 2 reproduced, 0 differs, 0 inconclusive; verdict: reproduced"


def test_a_forbidden_outcome_on_one_side_only_makes_a_stress_comparison_differ(sweep_dir, copy, capsys):
    def forbid(data):  # job 0's passing test shows a forbidden outcome in one of its samples
        test = data["tests"][0]
        test["outcomes"][0]["count"] -= 1
        test["outcomes"].append({"outcome": "9", "count": 1, "grade": "forbidden", "description": ""})
    _doctor(copy / "0" / "result.json", forbid)
    code, out, _ = _main(capsys, "compare", sweep_dir, copy)
    assert code == 1
    assert re.search(r"^  - WriteThenReadReport differs: forbidden outcome 9 in B only: B 1/\d+, A 0/\d+$", out,
                     flags=re.M), out
    assert "; verdict: differs" in out.rstrip().splitlines()[-1]


def test_stress_runs_of_other_settings_differ_by_those_settings(sweep_dir, capsys):
    code, out, _ = _main(capsys, "compare", sweep_dir / "0", sweep_dir / "1")
    assert code == 1
    assert "  - config stride: 100 vs 200" in out and "  - config target: " in out
    assert "  - B only: " in out  # job 1 holds a test job 0 does not


def test_a_test_listed_twice_is_a_claim_its_record_contradicts_and_is_paired_in_order(sweep_dir, copy, capsys):
    _doctor(copy / "0" / "result.json", lambda d: d["tests"].append(d["tests"][0]))
    code, out, _ = _main(capsys, "compare", copy / "0", copy / "0")
    assert code == 1 and "  - WriteThenReadReport differs: A holds a record its own numbers contradict" in out
    code, out, _ = _main(capsys, "compare", sweep_dir / "0", copy / "0")
    assert code == 1 and out.count("  - B only: WriteThenReadReport") == 1, out
    code, out, _ = _main(capsys, "report", copy / "0", "--check")
    assert code == 1 and "WriteThenReadReport: test listed 2 times" in out


def _no_samples(data):
    test = data["tests"][0]
    test.update(samples=0, strides=0, samples_per_s=0.0, outcomes=[])


def test_a_test_without_samples_on_both_sides_is_inconclusive_and_on_one_side_differs(sweep_dir, copy, capsys):
    _doctor(copy / "0" / "result.json", _no_samples)
    code, out, _ = _main(capsys, "compare", copy / "0", copy / "0")
    assert code == 3, out
    assert "  - WriteThenReadReport inconclusive: no outcome on either side (0 against 0 samples)" in out
    code, out, _ = _main(capsys, "compare", sweep_dir / "0", copy / "0")
    assert code == 1 and out.count("WriteThenReadReport took no samples") == 1, out


def test_compare_of_mixed_trees_compares_balance_and_stress_runs_alike(copy, capsys):
    job(copy / "balance", fixture(SCHEMA3))
    code, out, _ = _main(capsys, "compare", copy, copy)
    assert "lost_updates" in out and "stress job 0:" in out and "stress job 1:" in out
    assert out.rstrip().splitlines()[-1].startswith("3 jobs compared: ")


def test_replay_refuses_a_recorded_target_that_names_code_before_running_anything(stress_run, tmp_path, capsys):
    origin = tmp_path / "origin"
    shutil.copytree(stress_run, origin)
    config = origin / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("target: synclab.kernel.stress.idioms", "target: os:Anything"))
    code, out, err = _main(capsys, "replay", origin, "--out", tmp_path / "replays")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "stress.target = 'os:Anything' names code to import; replay imports only synclab's own tests" in err
    code, out, err = _main(capsys, "replay", stress_run, "--repeats", "3", "--out", tmp_path / "replays")
    assert code == 2 and out == "" and "--repeats: " in err and "not repeats" in err
    assert f"{stress_run} holds a stress run, which takes samples" in err  # a run, not a sweep: no "job ."
    assert not (tmp_path / "replays").exists()


def test_replay_help_says_what_allow_external_code_and_repeats_mean_for_stress_runs(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "import a recorded stress.target other than synclab's own tests" in text
    assert "not for stress runs" in text


@pytest.mark.parametrize("target, shadow", [
    ("synclab.evil.py", "synclab.evil.py"),  # a file: it starts with synclab. but is loaded as a path
    ("synclab.kernel.stress.idioms:LazyInit", "synclab.kernel.stress.idioms"),  # a directory the loader prefers
])
def test_replay_refuses_a_synclab_looking_target_that_a_file_here_would_stand_in_for(
        stress_run, tmp_path, monkeypatch, capsys, target, shadow):
    origin = tmp_path / "origin"
    shutil.copytree(stress_run, origin)
    config = origin / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("target: synclab.kernel.stress.idioms", f"target: {target}"))
    here = tmp_path / "here"
    here.mkdir()
    if shadow.endswith(".py"):
        (here / shadow).write_text("raise SystemExit('imported from the working directory')\n")
    else:
        (here / shadow).mkdir()
    monkeypatch.chdir(here)
    code, out, err = _main(capsys, "replay", origin, "--out", tmp_path / "replays")
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert f"stress.target = '{target}' names code to import" in err
    assert not (tmp_path / "replays").exists()


@pytest.mark.parametrize("target", ["synclab.evil.py", "synclab.evil.py:Evil", "synclab.here", "synclab.here:X",
                                    "synclab_evil", "synclab..x", "' synclab.evil.py'", "7", "[synclab.x]"])
def test_replay_refuses_a_synclab_looking_target_that_the_loader_reads_as_a_file(stress_run, tmp_path, capsys,
                                                                                 monkeypatch, target):
    origin = tmp_path / "origin"
    shutil.copytree(stress_run, origin)
    config = origin / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("target: synclab.kernel.stress.idioms", f"target: {target}"))
    planted = "open(__file__ + '.imported', 'w').close()\n"
    (origin / "synclab.evil.py").write_text(planted)  # beside the record, where `synclab replay .` is run
    (origin / "synclab.here").mkdir()
    (origin / "synclab.here" / "x.py").write_text(planted)
    monkeypatch.chdir(origin)
    code, out, err = _main(capsys, "replay", ".", "--out", tmp_path / "replays")
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert "names code to import; replay imports only synclab's own tests" in err
    assert not list(origin.rglob("*.imported")) and not (tmp_path / "replays").exists()


def test_replay_of_a_stress_run_runs_its_tests_again_and_compares_them(stress_run, tmp_path, capsys):
    code, out, err = _main(capsys, "replay", stress_run, "--out", tmp_path / "replays")
    assert code == 0, out + err
    [replayed] = [p for p in (tmp_path / "replays").glob("*/*") if p.is_dir()]
    data = json.loads((replayed / "result.json").read_text())
    assert data["workload"] == "stress" and [t["test"].rpartition(":")[2] for t in data["tests"]] == ["CounterUpdateLocked"]
    assert json.loads((replayed / "origin.json").read_text())["origin"] == str(stress_run)
    assert re.search(r"^CounterUpdateLocked$", out, flags=re.M) and "CounterUpdateLocked reproduced: 2: " in out
    assert out.rstrip().splitlines()[-1] == "1 job compared: 1 reproduced, 0 differs, 0 inconclusive; verdict: reproduced"
