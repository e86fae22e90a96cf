"""synclab report: grading, rows over mixed trees, every kind of broken input, formats, exit codes, plots."""

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from synclab.app import progress
from synclab.commands.cli import main
from synclab.kernel.outcome import default_grades, grade_table
from synclab.records.resultfile import SCHEMA_VERSION
from synclab.reports.plots import DRIFT_PNG, OUTCOMES_PNG, THROUGHPUT_PNG, draw_all
from synclab.reports.report import NO_BASELINE, collect, parse_overrides, row_from_result
from synclab.reports.render import lock_cost_cell, render, write_summary
from synclab.reports.stats import ratio_of_rates, t_quantile
from synthetic import SCHEMA1, SCHEMA1_UNGRADED, SCHEMA2, SCHEMA2_LOCKED, fixture, fixture_bytes, job, result, sweep

PNG = b"\x89PNG\r\n\x1a\n"


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


def _before_grading(**config: object) -> dict:
    """result-schema1-ungraded.json (lock=none; 1 of its 3 repeats lost updates), its settings changed."""
    data = fixture(SCHEMA1_UNGRADED)
    data["config"].update(config)
    return data


def test_results_from_before_grading_are_graded_by_their_lock_and_preset():
    assert row_from_result(_before_grading(lock="explicit")).forbidden == ("lost_updates",)
    assert row_from_result(_before_grading()).forbidden == ()
    preset = _before_grading(grades={"lost_updates": "forbidden"})
    assert row_from_result(preset).forbidden == ("lost_updates",)


def test_counts_come_from_the_numbers_and_a_contradicted_label_is_named():
    data = result("none", outcomes=["consistent", "consistent"])
    data["runs"][1]["outcome"] = "interrupted"  # a label no synclab writes, on a repeat whose numbers are consistent
    del data["runs"][1]["grade"]
    row = row_from_result(data)
    assert row.outcomes == {"consistent": 2} and row.forbidden == ()
    assert row.inconsistencies == (
        "repeat 1 claims outcome interrupted; its numbers say outcome consistent, grade acceptable, drift 0",)


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
    # geometric mean of 1000, 3000, 2000: (6e9) ** (1/3); the logs' sd is 0.555548, t(0.975, 2) = 4.302653
    assert row.ops_per_s == pytest.approx(1817.1206, abs=1e-3)
    half = 4.302653 * 0.555548 / math.sqrt(3)
    assert row.ops_interval == pytest.approx((1817.1206 * math.exp(-half), 1817.1206 * math.exp(half)), rel=1e-5)
    assert row.inconsistencies == ()


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


def test_lock_cost_against_the_otherwise_identical_unlocked_job_of_its_sweep(tmp_path):
    root = tmp_path / "s"
    job(root / "0", result("none", 2, rates=[1000.0, 3000.0, 2000.0], outcomes=["consistent"] * 3))
    job(root / "1", result("explicit", 2, rates=[500.0, 400.0], outcomes=["consistent"] * 2))
    job(root / "2", result("explicit", 4, rates=[500.0], outcomes=["consistent"]))  # no lock=none twin
    job(root / "3", result("context", 2, rates=[400.0, 400.0], outcomes=["consistent"] * 2, repeats=9, timeout_s=5.0))
    rows = {row.path: row for row in collect(root).rows}
    assert rows["0"].lock_cost == 1.0 and lock_cost_cell(rows["0"]) == "baseline"
    # ratio of geometric means: 1817.1206 / sqrt(500 * 400) = 4.0632
    assert rows["1"].lock_cost == pytest.approx(1817.1206 / math.sqrt(200_000), rel=1e-6)
    assert rows["2"].lock_cost is None and rows["2"].no_baseline == NO_BASELINE
    assert rows["3"].lock_cost == pytest.approx(1817.1206 / 400, rel=1e-6)  # repeats and timeout_s change no work
    low, high = rows["1"].lock_cost_ci
    assert low < rows["1"].lock_cost < high


def test_lock_cost_interval_by_hand():
    # logs of the baseline: mean m_b, variance v_b over 2; of the locked job likewise; Welch's df
    baseline, locked = [1000.0, 1200.0, 1100.0], [500.0, 520.0]
    lb, ll = [math.log(v) for v in baseline], [math.log(v) for v in locked]
    mb, ml = sum(lb) / 3, sum(ll) / 2
    vb = sum((x - mb) ** 2 for x in lb) / 2
    vl = sum((x - ml) ** 2 for x in ll) / 1
    se = vb / 3 + vl / 2
    df = se ** 2 / ((vb / 3) ** 2 / 2 + (vl / 2) ** 2 / 1)
    df = math.floor(df * 10) / 10
    t = t_quantile(0.975, df)
    got = ratio_of_rates(baseline, locked)
    assert got.value == pytest.approx(math.exp(mb - ml))
    assert (got.low, got.high) == pytest.approx((math.exp(mb - ml - t * math.sqrt(se)), math.exp(mb - ml + t * math.sqrt(se))))
    assert not got.holds(1.0)


def test_an_interval_that_holds_one_is_no_measurable_cost(tmp_path):
    root = tmp_path / "s"
    job(root / "0", result("none", 2, rates=[1000.0, 1300.0, 800.0], outcomes=["consistent"] * 3))
    job(root / "1", result("explicit", 2, rates=[1100.0, 900.0, 1000.0], outcomes=["consistent"] * 3))
    report = collect(root)
    cell = lock_cost_cell(report.rows[1])
    assert cell.startswith("no measurable cost [") and "x" not in cell
    low, high = report.rows[1].lock_cost_ci
    assert low < 1.0 < high
    assert "no measurable cost" in render(report)


def test_a_baseline_comes_only_from_the_jobs_own_sweep(tmp_path):
    """A tree of two sweeps of the same settings, measured at different moments, and unrelated jobs:
    each locked job gets exactly the cost its own sweep gives it."""
    tree = tmp_path / "tree"
    job(tree / "a" / "0", result("none", 2, rates=[1000.0, 1000.0], outcomes=["consistent"] * 2))
    job(tree / "a" / "1", result("explicit", 2, rates=[500.0, 500.0], outcomes=["consistent"] * 2))
    job(tree / "a" / "2", result("none", 4, rates=[9000.0, 9000.0], outcomes=["consistent"] * 2))
    job(tree / "b" / "0", result("none", 2, rates=[4000.0, 4000.0], outcomes=["consistent"] * 2))
    job(tree / "b" / "1", result("explicit", 2, rates=[1000.0, 1000.0], outcomes=["consistent"] * 2))
    job(tree / "b" / "2", result("explicit", 4, rates=[300.0, 300.0], outcomes=["consistent"] * 2))
    job(tree / "c" / "0", result("explicit", 2, rates=[10.0, 10.0], outcomes=["consistent"] * 2))
    whole = {row.path: row.lock_cost for row in collect(tree).rows}
    assert whole["a/1"] == pytest.approx(2.0) and whole["b/1"] == pytest.approx(4.0)
    assert whole["b/2"] is None and whole["c/0"] is None  # no lock=none twin in their own sweep
    for name in ("a", "b"):
        alone = {row.path: row.lock_cost for row in collect(tree / name).rows}
        assert alone["1"] == whole[f"{name}/1"]
    assert "lock cost -: jobs b/2, c/0: no lock=none job with the same settings in its sweep" in render(collect(tree))


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


def _without(name: str, key: str) -> dict:
    data = fixture(name)
    del data[key]
    return data


def _real(**changes: object) -> bytes:
    """result-schema2.json with some of its top-level values replaced."""
    return json.dumps({**fixture(SCHEMA2), **changes}).encode()


def _repeat(**changes: object) -> dict:
    """The first repeat of result-schema2.json with some of its values replaced."""
    return {**fixture(SCHEMA2)["runs"][0], **changes}


def _repeat_without(key: str) -> dict:
    run = _repeat()
    del run[key]
    return run


def _config(**changes: object) -> dict:
    return {**fixture(SCHEMA2)["config"], **changes}


BROKEN = {
    "empty": (b"", "is empty"),
    "blank": (b"  \n", "is empty"),
    "half": (fixture_bytes(SCHEMA2)[:80], "cut short"),
    "text": (b"hello, not json", "not valid JSON"),
    "binary": (b"\xff\xfe\x00\x81garbage", "not"),
    "array": (b"[1, 2, 3]", "not a synclab result"),
    "no_version": (json.dumps(_without(SCHEMA2, "schema_version")).encode(), "no schema_version"),
    "future": (_real(schema_version=SCHEMA_VERSION + 1), f"schema_version {SCHEMA_VERSION + 1}"),
    "old": (_real(schema_version=0), "schema_version 0"),
    "no_runs": (json.dumps(_without(SCHEMA1, "runs")).encode(), "no runs list"),
    "no_config": (json.dumps(_without(SCHEMA1, "config")).encode(), "no config"),
    "zero_runs": (_real(runs=[]), "no repeats"),
    "bad_run": (_real(runs=[{"repeat": 0}]), "runs[0].before is missing"),
    "no_after": (_real(runs=[_repeat_without("after")]), "runs[0].after is missing"),
    "bad_count": (_real(runs=[_repeat(ops_done="400")]), "runs[0].ops_done is '400', not an integer >= 0"),
    "negative": (_real(runs=[_repeat(failed_workers=-1)]), "runs[0].failed_workers is -1"),
    "bool_count": (_real(runs=[_repeat(ops_reported=True)]), "runs[0].ops_reported is True"),
    "bad_seconds": (_real(runs=[_repeat(work_s=[1])]), "runs[0].work_s"),
    "no_flag": (_real(runs=[_repeat_without("timed_out")]), "runs[0].timed_out is None, not true or false"),
    "bad_label": (_real(runs=[_repeat(outcome=3)]), "runs[0].outcome is 3, not a string"),
    "huge": (_real(runs=[_repeat(after=10**400)]), "runs[0].after is 1000"),
    "bad_lock": (_real(config=_config(lock=7)), "config.lock is 7"),
    "bad_times": (_real(config=_config(times=0)), "config.times is 0"),
    "bad_grades": (_real(config=_config(grades={"consistent": "fine"})), "config.grades.consistent is 'fine'"),
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
    (root / "4" / ".result.json.abc.tmp").write_bytes(fixture_bytes(SCHEMA2)[:100])  # died while writing
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
                  "ops_per_s", "ops_per_s_low", "ops_per_s_high", "lock_cost", "lock_cost_low", "lock_cost_high",
                  "never_seen_below", "inconsistent", "forbidden"):
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


def _lost_in_locked_job(data: dict) -> None:
    """The issue's own case: one locked repeat reads lost_updates, its after and drift to match,
    its stored grade left acceptable."""
    data["runs"][1].update(outcome="lost_updates", after=-4, drift=-4)


def _numbers_changed(data: dict) -> None:
    data["runs"][1].update(after=7, drift=7)  # outcome left consistent


def _outcome_changed(data: dict) -> None:
    data["runs"][0]["outcome"] = "lost_updates"  # numbers left consistent


def _grade_changed(data: dict) -> None:
    data["runs"][2]["grade"] = "interesting"


def _forbidden_relabelled(data: dict) -> None:
    data["runs"][1].update(after=-4, drift=-4, outcome="consistent", grade="acceptable")
    data["summary"] = {"repeats": 3, "outcomes": {"consistent": 3}, "forbidden": []}


def _summary_disagrees(data: dict) -> None:
    data["summary"] = {"repeats": 3, "outcomes": {"consistent": 2, "timeout": 1}}


# kind: (doctor, the line naming the doctored repeat, how many claims are contradicted). A summary
# is left as the run wrote it: numbers changed under it make it a contradicted claim too.
DOCTORED = {
    "lost_in_locked_job": (_lost_in_locked_job, "repeat 1 claims grade acceptable; its numbers say outcome lost_updates, "
                                                "grade forbidden, drift -4", 2),
    "numbers_changed": (_numbers_changed, "repeat 1 claims outcome consistent, grade acceptable; its numbers say "
                                          "outcome lost_updates, grade forbidden, drift 7", 2),
    "outcome_changed": (_outcome_changed, "repeat 0 claims outcome lost_updates; its numbers say "
                                          "outcome consistent, grade acceptable, drift 0", 1),
    "grade_changed": (_grade_changed, "repeat 2 claims grade interesting; its numbers say outcome consistent, "
                                      "grade acceptable, drift 0", 1),
    "forbidden_relabelled": (_forbidden_relabelled, "repeat 1 claims outcome consistent, grade acceptable; its numbers "
                                                    "say outcome lost_updates, grade forbidden, drift -4", 2),
    "summary_disagrees": (_summary_disagrees, "summary claims outcomes {'consistent': 2, 'timeout': 1} (its repeats "
                                              "give {'consistent': 3})", 1),
}


@pytest.mark.parametrize("kind", DOCTORED)
def test_every_kind_of_doctored_result_is_flagged_and_fails_check(tmp_path, capsys, kind):
    doctor, claim, claims = DOCTORED[kind]
    root = sweep(tmp_path / "s", repeats=3, outcomes=["consistent"] * 3)
    job(root / "2", fixture(SCHEMA2_LOCKED))  # lock=explicit workers=2: 3 consistent repeats, as the run wrote them
    assert run_cli([str(root), "--check"], capsys)[0] == 0  # intact, it passes
    locked = json.loads((root / "2" / "result.json").read_text())
    doctor(locked)
    (root / "2" / "result.json").write_text(json.dumps(locked))
    code, out, err = run_cli([str(root), "--check"], capsys)
    assert code == 1
    assert f"inconsistent: job 2: {claim}" in out
    assert f"INCONSISTENT: {claims}" in out
    if claims == 2:
        assert ("inconsistent: job 2: summary claims outcomes {'consistent': 3} (its repeats give "
                "{'consistent': 2, 'lost_updates': 1})") in out
    assert "hold a record their own numbers contradict (job 2; see inconsistent)" in err


def test_a_result_from_before_grading_is_graded_by_its_lock(tmp_path, capsys):
    root = tmp_path / "s"
    job(root / "0", _before_grading(lock="explicit"), overrides_yaml="- lock=explicit\n")
    job(root / "1", _before_grading(), overrides_yaml="- lock=none\n")
    code, out, err = run_cli([str(root), "--check"], capsys)
    assert code == 1
    assert err.strip() == "synclab report: forbidden outcomes (lost_updates) in 1 job(s)"
    assert "inconsistent" not in out  # it claims no grade, so nothing it says is contradicted


def test_check_fails_when_a_run_cannot_be_read(tmp_path, capsys):
    root = sweep(tmp_path / "s")
    (root / "9").mkdir()
    (root / "9" / "result.json").write_bytes(fixture_bytes(SCHEMA1)[:600])  # half-written
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
    path = job(tmp_path / "run", fixture(SCHEMA2)) / "result.json"
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


def test_report_without_a_path_reads_outputs_where_runs_land(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    assert capsys.readouterr().err == ("synclab report: no PATH given and no outputs/ here: run an experiment first "
                                       "(python run.py), or name a run, a sweep or an archive\n")
    job(tmp_path / "outputs" / "2026-12-03" / "10-00-00-000000", fixture(SCHEMA2))
    capsys.readouterr()
    assert main(["report", "--format", "csv"]) == 0
    by_default = capsys.readouterr().out
    assert main(["report", "outputs", "--format", "csv"]) == 0
    assert capsys.readouterr().out == by_default and "10-00-00-000000" in by_default


def test_no_plots_without_out_is_refused_in_one_line(tmp_path, capsys):
    job(tmp_path / "run", fixture(SCHEMA2))
    assert main(["report", str(tmp_path / "run"), "--no-plots"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("synclab report: --no-plots: leaves the plots out of what --out writes; "
                                 "without --out nothing is drawn\n")
