"""``synclab stress TARGET``: histograms as tests finish, a run directory like any run's, exit 1 on a
forbidden outcome, and one line with nothing written for every target or setting it refuses."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synclab.commands.cli import main
from synclab.records.stressjudge import judge_stress
from stresscases import FORBIDDEN, PASSING, write_tests

BUDGET = "0.05"

def _write(directory: Path, name: str, template: str) -> Path:
    return write_tests(directory / name, template, suffix=directory.name.replace("-", "_").title().replace("_", ""))


def _stress(args, capsys) -> "tuple[int, str, str]":
    code = main(["stress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _runs(cwd: Path) -> list:
    return sorted(cwd.glob("outputs/*/*"))


def test_a_passing_test_prints_its_histogram_and_writes_a_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "passing.py", PASSING)
    code, out, err = _stress(["passing.py", "--time-budget", BUDGET, "--stride", "100"], capsys)
    assert code == 0, err
    [run] = _runs(tmp_path)
    assert run.parent.name.count("-") == 2 and run.name.count("-") == 3  # outputs/YYYY-MM-DD/HH-MM-SS-ffffff
    data = json.loads((run / "result.json").read_text())
    assert data["workload"] == "stress" and (run / "env.json").is_file()
    judged = judge_stress(data)
    assert judged.inconsistencies == () and [t.status for t in judged.tests] == ["acceptable"]
    [test] = data["tests"]
    assert test["test"] in out and f"{test['samples']:,} samples" in out
    assert "no interesting or forbidden outcome" in out and "strides of 100" in out
    assert "1 stress test" in out and out.rstrip().endswith(f"run: {run.relative_to(tmp_path)}")


def test_a_forbidden_outcome_fails_with_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "forbidden.py", FORBIDDEN)
    code, out, _ = _stress(["forbidden.py", "--time-budget", BUDGET, "--out", "run"], capsys)
    assert code == 1
    assert "FAILED: a forbidden outcome" in out and "1 failed" in out
    assert judge_stress(json.loads((tmp_path / "run" / "result.json").read_text())).tests[0].status == "forbidden"


def test_a_directory_runs_every_test_and_k_selects_by_class_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tests = tmp_path / "tests-dir"
    tests.mkdir()
    _write(tests, "a_passing.py", PASSING)
    _write(tests, "b_forbidden.py", FORBIDDEN)
    code, out, _ = _stress([str(tests), "--time-budget", BUDGET, "--out", "all"], capsys)
    assert code == 1 and "2 stress tests" in out
    assert len(json.loads((tmp_path / "all" / "result.json").read_text())["tests"]) == 2
    code, out, _ = _stress([str(tests), "-k", "WriteThenRead", "--time-budget", BUDGET, "--out", "some"], capsys)
    assert code == 0 and "1 stress test," in out and "AlwaysTwo" not in out


@pytest.mark.parametrize("args, said", [
    (["missing.py"], "missing.py"),
    (["passing.py:Nope"], "has no class 'Nope'"),
    (["passing.py", "-k", "Zed"], "'Zed'"),
    (["passing.py", "--stride", "0"], "--stride: states per stride"),
    (["passing.py", "--time-budget", "0"], "--time-budget: seconds per test"),
    (["passing.py", "--threads-per-actor", "100"], "--threads-per-actor:"),
    (["passing.py", "--switch-interval", "5"], "--switch-interval:"),
    (["passing.py", "--python", "2.7"], "--python: no Python 2.7 found"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, args, said):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "passing.py", PASSING)
    code, out, err = _stress([*args, "--time-budget", BUDGET] if "--time-budget" not in args else args, capsys)
    assert code == 2 and out == ""
    assert err.startswith("synclab stress: ") and said in err and len(err.splitlines()) == 1
    assert not (tmp_path / "outputs").exists()


def test_help_names_the_options_as_the_readme_does(capsys):
    with pytest.raises(SystemExit):
        main(["stress", "--help"])
    usage = " ".join(capsys.readouterr().out.split("\n\n")[0].split())
    assert usage == ("usage: synclab stress [-h] [-k PATTERN] [--time-budget S] [--stride N] [--threads-per-actor N] "
                     "[--switch-interval S] [--gil {enabled,disabled}] [--python VERSION_OR_PATH] [--out DIR] TARGET")


def test_gil_disabled_on_a_build_with_the_gil_is_refused(tmp_path, monkeypatch, capsys):
    from synclab.kernel import gil

    if gil.free_threaded():
        pytest.skip("this interpreter is free-threaded: gil=disabled exists here")
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "passing.py", PASSING)
    code, _, err = _stress(["passing.py", "--gil", "disabled", "--time-budget", BUDGET], capsys)
    assert code == 2 and err.startswith("synclab stress: --gil: 'disabled' needs a free-threaded build")
    assert len(err.splitlines()) == 1 and not (tmp_path / "outputs").exists()


def test_an_out_directory_that_holds_a_run_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "passing.py", PASSING)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "result.json").write_text("{}")
    code, _, err = _stress(["passing.py", "--out", "taken", "--time-budget", BUDGET], capsys)
    assert code == 2 and "--out: taken already holds a run" in err
    assert (tmp_path / "taken" / "result.json").read_text() == "{}"


def test_free_threaded_build_with_the_gil_disabled(tmp_path, monkeypatch, capsys, free_threaded_python):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "passing.py", PASSING)
    code, out, err = _stress(["passing.py", "--python", str(free_threaded_python.path), "--gil", "disabled",
                              "--time-budget", BUDGET, "--out", "ft"], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "ft" / "result.json").read_text())
    assert data["gil"]["enabled"] is False and data["config"]["gil"] == "disabled"
    assert "t, GIL disabled)" in out.splitlines()[0]


def test_a_signal_mid_run_ends_it_with_nothing_left_behind(tmp_path):
    _write(tmp_path, "passing.py", PASSING)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "synclab", "stress", "passing.py", "--time-budget", "60"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _runs(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the run directory appears once the run has started
        assert _runs(tmp_path), "the run never started"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip() == "synclab stress: interrupted (SIGTERM)" and out == ""
    assert not (tmp_path / "outputs").exists()
