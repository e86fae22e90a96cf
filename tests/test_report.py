"""synclab report: grading, rows over mixed trees, every kind of broken input, formats, exit codes, plots."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from synclab import progress
from synclab.cli import main
from synclab.outcome import default_grades, grade_table
from synclab.plots import DRIFT_PNG, OUTCOMES_PNG, THROUGHPUT_PNG, draw_all
from synclab.report import collect, parse_overrides, render, row_from_result, write_summary

PNG = b"\x89PNG\r\n\x1a\n"


def result(
    lock: str = "none",
    workers: int = 2,
    outcomes: Sequence[str] = ("consistent",),
    drifts: Optional[Sequence[Optional[int]]] = None,
    rates: Optional[Sequence[Optional[float]]] = None,
    overrides: Optional[List[str]] = None,
    grades: Optional[Dict[str, str]] = None,
    graded: bool = True,
    **config: object,
) -> dict:
    """A result.json of schema 1 as synclab writes it; graded=False gives one from before grading."""
    drifts = drifts if drifts is not None else [0 if o == "consistent" else 5 for o in outcomes]
    rates = rates if rates is not None else [1000.0] * len(outcomes)
    table = grade_table(lock, grades)
    runs = []
    for index, (outcome, drift, rate) in enumerate(zip(outcomes, drifts, rates)):
        run = {"repeat": index, "before": 0, "after": drift, "expected": 0, "drift": drift,
               "ops_expected": 20, "ops_reported": 20, "ops_done": 20, "failed_workers": 0,
               "wall_s": 0.01, "work_s": 0.005, "ops_per_s": rate, "outcome": outcome}
        if graded:
            run["grade"] = table[outcome]
        runs.append(run)
    data = {
        "schema_version": 1,
        "config": {"primitive": "process", "lock": lock, "workers": workers, "times": 10, "amount": 1,
                   "initial": 0, "sleep": 0.0, "repeats": len(runs), "start_method": None, "timeout_s": 60.0,
                   "direction": "both", "sharing": "passed", "grades": grades, **config},
        "runs": runs,
        "summary": {"repeats": len(runs)},
    }
    if graded:
        data["grading"] = table
    if overrides is not None:
        data["overrides"] = overrides
    return data


def job(directory: Path, data: object = None, raw: Optional[bytes] = None, overrides_yaml: Optional[str] = None) -> Path:
    """A job directory as Hydra and synclab leave it."""
    (directory / ".hydra").mkdir(parents=True, exist_ok=True)
    if overrides_yaml is not None:
        (directory / ".hydra" / "overrides.yaml").write_text(overrides_yaml)
    (directory / "run.log").write_text("")
    if raw is not None:
        (directory / "result.json").write_bytes(raw)
    elif data is not None:
        (directory / "result.json").write_text(json.dumps(data, indent=2))
    return directory


def sweep(root: Path, locks=("none", "explicit"), workers=(2, 4), **kwargs: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    num = 0
    for lock in locks:
        for count in workers:
            job(root / str(num), result(lock, count, overrides=[f"lock={lock}", f"workers={count}"], **kwargs))
            num += 1
    return root


def run_cli(args: List[str], capsys) -> "tuple[int, str, str]":
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ grading


def test_default_grades_follow_the_lock():
    unlocked = default_grades("none")
    assert unlocked == {"consistent": "acceptable", "lost_updates": "interesting", "not_shared": "forbidden",
                        "incomplete": "forbidden", "timeout": "forbidden"}
    for lock in ("explicit", "decorator", "context"):
        grades = default_grades(lock)
        assert grades["consistent"] == "acceptable"
        assert {g for o, g in grades.items() if o != "consistent"} == {"forbidden"}


def test_a_preset_overrides_the_default_grades():
    assert grade_table("none", {"lost_updates": "forbidden"})["lost_updates"] == "forbidden"
    assert grade_table("explicit", {"timeout": "acceptable"})["timeout"] == "acceptable"
    assert grade_table("explicit", {"timeout": "acceptable"})["lost_updates"] == "forbidden"


def test_forbidden_column_follows_each_repeats_grade():
    row = row_from_result(result("none", outcomes=["consistent", "lost_updates", "timeout"]))
    assert row.forbidden == ("timeout",)
    assert row.outcome_grades == {"consistent": "acceptable", "lost_updates": "interesting", "timeout": "forbidden"}
    locked = row_from_result(result("explicit", outcomes=["consistent", "lost_updates"]))
    assert locked.forbidden == ("lost_updates",)


def test_results_from_before_grading_are_graded_by_their_lock_and_preset():
    assert row_from_result(result("explicit", outcomes=["lost_updates"], graded=False)).forbidden == ("lost_updates",)
    assert row_from_result(result("none", outcomes=["lost_updates"], graded=False)).forbidden == ()
    preset = result("none", outcomes=["lost_updates"], graded=False, grades={"lost_updates": "forbidden"})
    assert row_from_result(preset).forbidden == ("lost_updates",)


def test_an_outcome_nobody_graded_is_forbidden():
    data = result("none", outcomes=["consistent", "consistent"])
    data["runs"][1]["outcome"] = "interrupted"
    del data["runs"][1]["grade"]
    row = row_from_result(data)
    assert row.forbidden == ("interrupted",)
    assert row.outcomes == {"consistent": 1, "interrupted": 1}


# ------------------------------------------------------------------ rows and statistics


def test_row_statistics_by_hand():
    data = result("none", outcomes=["consistent", "lost_updates", "lost_updates", "timeout"],
                  drifts=[0, -300, 600, None], rates=[1000.0, 3000.0, 2000.0, None])
    row = row_from_result(data)
    assert row.repeats == 4
    assert row.outcomes == {"consistent": 1, "lost_updates": 2, "timeout": 1}
    assert row.anomalies == 3 and row.anomaly_rate == 0.75
    low, high = row.anomaly_ci
    # centre (0.75 + z^2/8) / (1 + z^2/4) = 0.627527, half-width z*sqrt(3/64 + z^2/64) / (1 + z^2/4) = 0.326885
    assert low == pytest.approx(0.300642, abs=1e-6) and high == pytest.approx(0.954413, abs=1e-6)
    assert row.drifts == (0, -300, 600)
    assert row.drift.mean == 100 and row.drift.min == -300 and row.drift.max == 600
    assert row.ops_per_s == 2000.0


def test_drift_is_read_only_where_the_balance_means_something():
    data = result("none", outcomes=["consistent", "not_shared", "incomplete"], drifts=[0, -40, 7])
    row = row_from_result(data)
    assert row.drifts == (0,)
    assert row.forbidden == ("not_shared", "incomplete")


def test_a_sweep_gets_one_row_per_job_with_the_swept_keys(tmp_path):
    sweep(tmp_path / "s", rates=[1000.0])
    report = collect(tmp_path / "s")
    assert [row.path for row in report.rows] == ["0", "1", "2", "3"]
    assert report.keys == ("lock", "workers")
    assert report.skipped == ()


def test_lock_cost_against_the_otherwise_identical_unlocked_job(tmp_path):
    root = tmp_path / "s"
    job(root / "0", result("none", 2, rates=[1000.0, 3000.0, 2000.0], outcomes=["consistent"] * 3))
    job(root / "1", result("explicit", 2, rates=[500.0], outcomes=["consistent"]))
    job(root / "2", result("explicit", 4, rates=[500.0], outcomes=["consistent"]))  # no lock=none twin
    job(root / "3", result("context", 2, rates=[400.0], outcomes=["consistent"], repeats=9, timeout_s=5.0))
    rows = {row.path: row for row in collect(root).rows}
    assert rows["0"].lock_cost == 1.0
    assert rows["1"].lock_cost == 4.0  # median 2000 / 500
    assert rows["2"].lock_cost is None
    assert rows["3"].lock_cost == 5.0  # repeats and timeout_s do not change the work


def test_mixed_tree_of_sweeps_and_single_runs(tmp_path):
    sweep(tmp_path / "multirun" / "2026-01-01" / "10-00-00-000001")
    big = tmp_path / "multirun" / "2026-01-01" / "11-00-00-000001"
    for num in range(12):
        job(big / str(num), result("none", 2 + num, overrides=[f"workers={2 + num}"]))
    job(tmp_path / "2026-01-02" / "09-00-00-000001", result("decorator", 2, primitive="pool",
                                                           overrides=["+experiment=pool_decorator"]))
    report = collect(tmp_path)
    paths = [row.path for row in report.rows]
    assert len(paths) == 17
    assert paths[0] == "2026-01-02/09-00-00-000001"
    numbered = [p.rsplit("/", 1)[1] for p in paths if "11-00-00" in p]
    assert numbered == [str(n) for n in range(12)]  # job 10 after job 9
    assert {"experiment", "primitive", "lock", "workers"} <= set(report.keys)
    single = report.rows[0]
    assert single.config["experiment"] == "pool_decorator"
    table = render(report, "table")
    assert "pool_decorator" in table and "17 jobs" in table


def test_a_single_run_shows_the_keys_it_overrode(tmp_path):
    job(tmp_path / "run", result("none", 2, overrides=["times=10", "repeats=2", "hydra.run.dir=/x"]))
    report = collect(tmp_path / "run")
    assert [row.path for row in report.rows] == ["."]
    assert report.keys == ("times",)  # repeats has its own column; hydra.* is not a key


def test_overrides_are_read_from_hydra_when_the_result_lacks_them(tmp_path):
    yaml = "- lock=explicit\n- '+experiment=shared_memory_lock'\n- sleep=0.001\n"
    job(tmp_path / "run", result("explicit", 2), overrides_yaml=yaml)
    row = collect(tmp_path / "run").rows[0]
    assert row.config["experiment"] == "shared_memory_lock"
    assert set(row.overrides) == {"lock", "experiment", "sleep"}


def test_parse_overrides_reads_what_hydra_writes():
    assert parse_overrides("- lock=none\n- workers=2\n") == ["lock=none", "workers=2"]
    assert parse_overrides("[]\n") == []
    assert parse_overrides("") == []
    assert parse_overrides("- 'a=it''s'\n- \"b=x:y\"\n") == ["a=it's", "b=x:y"]
    assert parse_overrides("[lock=none, workers=2]\n") == ["lock=none", "workers=2"]
    assert parse_overrides("{not: [a list\n") == []


# ------------------------------------------------------------------ broken input


BROKEN = {
    "empty": (b"", "is empty"),
    "blank": (b"  \n", "is empty"),
    "half": (json.dumps(result())[:80].encode(), "cut short"),
    "text": (b"hello, not json", "not valid JSON"),
    "binary": (b"\xff\xfe\x00\x81garbage", "not"),
    "array": (b"[1, 2, 3]", "not a synclab result"),
    "no_version": (json.dumps({"config": {}, "runs": []}).encode(), "no schema_version"),
    "future": (json.dumps({**result(), "schema_version": 2}).encode(), "schema_version 2"),
    "old": (json.dumps({**result(), "schema_version": 0}).encode(), "schema_version 0"),
    "no_runs": (json.dumps({"schema_version": 1, "config": {}}).encode(), "no runs list"),
    "no_config": (json.dumps({"schema_version": 1, "runs": []}).encode(), "no config"),
    "zero_runs": (json.dumps({**result(), "runs": []}).encode(), "no repeats"),
    "bad_run": (json.dumps({**result(), "runs": [{"repeat": 0}]}).encode(), "runs[0] has no outcome"),
    "bad_drift": (json.dumps({**result(), "runs": [{"outcome": "consistent", "drift": "x"}]}).encode(),
                  "runs[0].drift"),
    "bad_rate": (json.dumps({**result(), "runs": [{"outcome": "consistent", "ops_per_s": [1]}]}).encode(),
                 "runs[0].ops_per_s"),
    "bad_grade": (json.dumps({**result(), "runs": [{"outcome": "consistent", "grade": "fine"}]}).encode(),
                  "runs[0].grade"),
}


def test_every_kind_of_broken_result_is_skipped_with_its_reason(tmp_path, capsys):
    root = tmp_path / "tree"
    sweep(root / "good")
    for name, (raw, _) in BROKEN.items():
        job(root / "bad" / name, raw=raw)
    (root / "dir_result" / "result.json").mkdir(parents=True)
    report = collect(root)
    assert len(report.rows) == 4
    reasons = {s.path: s.reason for s in report.skipped}
    for name, (_, reason) in BROKEN.items():
        assert reason in reasons[f"bad/{name}"], (name, reasons[f"bad/{name}"])
    assert "not a file" in reasons["dir_result"]
    for fmt in ("table", "md", "json", "csv"):
        render(report, fmt)  # no format chokes on them
    code, out, err = run_cli([str(root)], capsys)
    assert code == 0
    assert f"skipped ({len(BROKEN) + 1}):" in out
    assert "bad/half: result.json is cut short" in out


def test_job_directories_without_a_result_and_an_interrupted_sweep(tmp_path):
    root = sweep(tmp_path / "s", locks=("none",), workers=(1, 2))
    job(root / "2")  # started: .hydra and run.log, no result
    (root / "3" / ".hydra").mkdir(parents=True)  # created, never ran
    job(root / "4")
    (root / "4" / ".result.json.abc.tmp").write_text('{"schema')  # died while writing
    report = collect(root)
    assert [row.path for row in report.rows] == ["0", "1"]
    reasons = {s.path: s.reason for s in report.skipped}
    assert "did not finish" in reasons["2"]
    assert "did not run" in reasons["3"]
    assert "while writing" in reasons["4"]


def test_unreadable_directory_is_skipped(tmp_path, monkeypatch):
    root = sweep(tmp_path / "s")
    (root / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = collect(root)
    assert len(report.rows) == 4
    assert [(s.path, s.reason) for s in report.skipped] == [("locked", "unreadable directory: Permission denied")]


def test_hidden_directories_and_symlinks_are_not_entered(tmp_path):
    root = sweep(tmp_path / "s", locks=("none",), workers=(2,))
    job(root / ".cache" / "x", result())
    (root / "loop").symlink_to(root, target_is_directory=True)
    assert [row.path for row in collect(root).rows] == ["0"]


# ------------------------------------------------------------------ formats and files


def forbidden_tree(root: Path) -> Path:
    sweep(root, locks=("none",), workers=(2,))
    job(root / "1", result("explicit", 2, outcomes=["consistent", "lost_updates"], overrides=["lock=explicit"]))
    return root


def test_csv_has_one_typed_row_per_job(tmp_path):
    report = collect(forbidden_tree(tmp_path / "s"))
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["job"] for r in rows] == ["0", "1"]
    assert list(rows[0])[:4] == ["job", "lock", "repeats", "consistent"]
    for field in ("lost_updates", "not_shared", "incomplete", "timeout", "anomaly_rate", "anomaly_ci_low",
                  "anomaly_ci_high", "drift_mean", "drift_stdev", "drift_min", "drift_max",
                  "ops_per_s_median", "lock_cost", "forbidden"):
        assert field in rows[0]
    assert rows[1]["forbidden"] == "lost_updates" and rows[0]["forbidden"] == ""
    assert rows[1]["anomaly_rate"] == "0.5" and rows[1]["lock_cost"] == "1.0"


def test_json_and_markdown(tmp_path):
    report = collect(forbidden_tree(tmp_path / "s"))
    data = json.loads(render(report, "json"))
    assert data["keys"] == ["lock"]
    assert data["rows"][1]["forbidden"] == ["lost_updates"]
    assert data["rows"][1]["anomaly_ci_low"] == pytest.approx(0.0945, abs=1e-4)
    md = render(report, "md")
    assert "| job | lock | repeats |" in md
    assert "**FORBIDDEN: lost_updates**" in md
    assert "1 with a forbidden outcome" in md


def test_summary_files_are_written_whole(tmp_path):
    root = forbidden_tree(tmp_path / "s")
    written = write_summary(collect(root), root)
    assert sorted(p.name for p in written) == ["summary.csv", "summary.md"]
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
    assert (root / "summary.csv").read_text().startswith("job,lock,")


# ------------------------------------------------------------------ the command


def test_check_exit_codes(tmp_path, capsys):
    clean = sweep(tmp_path / "clean")
    dirty = forbidden_tree(tmp_path / "dirty")
    assert run_cli([str(clean), "--check"], capsys)[0] == 0
    code, out, err = run_cli([str(dirty), "--check"], capsys)
    assert code == 1
    assert err.strip() == "synclab report: forbidden outcomes (lost_updates) in 1 job(s)"
    assert run_cli([str(dirty)], capsys)[0] == 0  # without --check a forbidden outcome is reported, not fatal
    assert run_cli([str(tmp_path), "--check"], capsys)[0] == 1  # the tree holding both


def test_check_fails_when_a_run_cannot_be_read(tmp_path, capsys):
    root = sweep(tmp_path / "s")
    (root / "9").mkdir()
    (root / "9" / "result.json").write_text('{"schema_version": 1, "runs": [')  # half-written
    code, out, err = run_cli([str(root), "--check"], capsys)
    assert code == 1
    assert "could not be read" in err and "skipped" in out
    assert run_cli([str(root)], capsys)[0] == 0


def test_out_that_cannot_be_written_is_one_line(tmp_path, capsys):
    root = sweep(tmp_path / "s")
    code, _, err = run_cli([str(root), "--out", "/proc/synclab-cannot-write-here"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--out" in err


@pytest.mark.parametrize("make, needle", [
    (lambda p: p / "missing", "no such file or directory"),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "not a directory of runs"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no synclab runs found"),
])
def test_bad_paths_get_one_line_and_exit_2(tmp_path, capsys, make, needle):
    code, out, err = run_cli([str(make(tmp_path))], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_out_must_be_a_directory(tmp_path, capsys):
    root = sweep(tmp_path / "s")
    (tmp_path / "file").write_text("")
    code, _, err = run_cli([str(root), "--out", str(tmp_path / "file")], capsys)
    assert code == 2 and "--out" in err


def test_a_result_file_can_be_reported_directly(tmp_path, capsys):
    path = job(tmp_path / "run", result("none", outcomes=["lost_updates"])) / "result.json"
    code, out, _ = run_cli([str(path), "--format", "csv"], capsys)
    assert code == 0 and out.splitlines()[1].startswith(".,")


def test_out_writes_summaries_and_valid_pngs(tmp_path, capsys):
    root = sweep(tmp_path / "s", outcomes=["consistent", "lost_updates"])
    out = tmp_path / "reports" / "here"
    code, printed, _ = run_cli([str(root), "--out", str(out), "--format", "md"], capsys)
    assert code == 0 and printed.startswith("# synclab summary")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["summary.csv", "summary.md", OUTCOMES_PNG, DRIFT_PNG, THROUGHPUT_PNG])
    for name in (OUTCOMES_PNG, DRIFT_PNG, THROUGHPUT_PNG):
        assert (out / name).read_bytes()[:8] == PNG


def test_python_dash_m_synclab_report(tmp_path):
    root = forbidden_tree(tmp_path / "s")
    done = subprocess.run([sys.executable, "-m", "synclab", "report", str(root), "--check", "--format", "csv"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout.startswith("job,lock,")
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ plots


def test_plots_skip_what_has_nothing_to_show(tmp_path):
    # workers not swept -> no throughput plot; timeouts only -> no drift to draw
    root = tmp_path / "s"
    job(root / "0", result("none", 2, outcomes=["timeout"], drifts=[None], rates=[None]))
    job(root / "1", result("explicit", 2, outcomes=["timeout"], drifts=[None], rates=[None]))
    out = tmp_path / "out"
    out.mkdir()
    written = draw_all(collect(root), out)
    assert [p.name for p in written] == [OUTCOMES_PNG]
    assert written[0].read_bytes()[:8] == PNG
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert draw_all(collect(empty), empty) == []


def test_throughput_plot_only_when_workers_was_swept(tmp_path):
    root = sweep(tmp_path / "s", locks=("none", "explicit"), workers=(2,))
    out = tmp_path / "out"
    out.mkdir()
    names = [p.name for p in draw_all(collect(root), out)]
    assert THROUGHPUT_PNG not in names and OUTCOMES_PNG in names


# ------------------------------------------------------------------ progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_writes_nothing_when_not_a_terminal():
    stream = io.StringIO()
    with progress.bar("repeats", 3, stream) as bar:
        bar.advance()
        bar.advance()
    assert stream.getvalue() == ""
    assert bar.done == 2


def test_progress_on_a_terminal_shows_counts_and_time_left_then_clears():
    stream = FakeTerminal()
    with progress.bar("jobs", 4, stream) as jobs:
        with progress.bar("repeats", 2, stream) as repeats:
            repeats.advance()
        jobs.advance()
    text = stream.getvalue()
    assert "jobs [----------] 0/4" in text
    assert "repeats [#####-----] 1/2 ~0:00 left" in text
    assert "jobs [##--------] 1/4" in text
    assert text.endswith("\r\x1b[K")  # the line is wiped when the last bar goes
    assert progress._state["stream"] is None
