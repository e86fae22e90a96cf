"""The gil setting and what the GIL really did: refused where a build has no such state, applied
to the experiment's process and its workers on a free-threaded build, asked of the interpreter
after every repeat, and the records that claim otherwise caught.

The free-threaded tests run on the interpreter the ``free_threaded_python`` fixture finds (CI
unpacks one from ../shared/interpreters and names it in SYNCLAB_PYTHONS)."""

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict

import pytest

from conftest import ROOT
from synclab.kernel import gil
from synclab.kernel.remote import run_in_interpreter
from synclab.kernel.spec import IN_PROCESS, LOCK_SUPPORT, PRIMITIVES, ConfigError, ExperimentSpec, validate
from synclab.records.judge import judge_result
from synclab.records.resultfile import SCHEMA_VERSION

SRC = str(ROOT / "src")
# 8 threads x 100000 `balance += 1` from 0: the notebook's thread cell
THREADS_UNSAFE = dict(primitive="thread", lock="none", workers=8, times=100_000, direction="deposit")


def test_gil_disabled_is_refused_on_a_build_with_the_gil():
    with pytest.raises(gil.GilUnavailable, match=r"^gil: 'disabled' needs a free-threaded build.*where it ran"):
        gil.check("disabled", False, "where it ran")
    gil.check("enabled", False, "anywhere")  # accepted: a GIL build has its GIL on
    gil.check(None, False, "anywhere")
    with pytest.raises(ConfigError, match=r"^gil: 'off' is not one of enabled, disabled"):
        validate(ExperimentSpec(gil="off"))


@pytest.mark.parametrize("setting, free, expected", [
    ("disabled", True, "0"), ("enabled", True, "1"), (None, True, "inherited"),
    ("enabled", False, None), (None, False, None),  # a GIL build stops at start-up on PYTHON_GIL=0
])
def test_the_child_environment_sets_python_gil_only_on_a_free_threaded_build(setting, free, expected):
    env = gil.child_environment(setting, free, {"PYTHON_GIL": "inherited", "OTHER": "kept"})
    assert env == {"OTHER": "kept", **({} if expected is None else {"PYTHON_GIL": expected})}


def test_an_inherited_python_gil_0_does_not_stop_a_gil_build(monkeypatch):
    """3.13 with the GIL refuses to start with PYTHON_GIL=0; synclab never hands it one."""
    from synclab.kernel.interpreters import discover

    builds = [i for i in discover() if not i.free_threaded and i.version_tuple[:2] >= (3, 13)]
    if not builds:
        pytest.skip("no CPython 3.13 or newer with the GIL found")
    monkeypatch.setenv("PYTHON_GIL", "0")
    result = run_in_interpreter(builds[0].path, validate(ExperimentSpec(primitive="thread", times=100, repeats=1)))
    assert [run.gil_enabled for run in result.runs] == [True]


def test_workers_started_afresh_inherit_the_gil_setting(monkeypatch):
    monkeypatch.delenv("PYTHON_GIL", raising=False)
    monkeypatch.setattr(gil, "free_threaded", lambda: True)
    with gil.workers_inherit("disabled"):
        assert os.environ["PYTHON_GIL"] == "0"
    assert "PYTHON_GIL" not in os.environ
    monkeypatch.setenv("PYTHON_GIL", "1")
    with gil.workers_inherit(None):
        assert os.environ["PYTHON_GIL"] == "1"  # no setting: the inherited one stays


def test_a_run_with_gil_disabled_on_this_build_writes_nothing(cli, tmp_path):
    if gil.free_threaded():
        pytest.skip("this interpreter is free-threaded: gil=disabled is valid here")
    out = tmp_path / "run"
    done = cli(["primitive=thread", "times=100", "repeats=1", "gil=disabled", f"hydra.run.dir={out}"])
    assert done.returncode == 2
    assert done.stderr_lines == [done.stderr_lines[0]] and done.stderr_lines[0].startswith(
        "synclab: configuration error: gil: 'disabled' needs a free-threaded build")
    assert sys.executable in done.stderr_lines[0]
    assert not out.exists()


def test_a_typo_in_gil_fails_at_composition_with_the_choices(cli, tmp_path):
    done = cli(["gil=of", f"hydra.run.dir={tmp_path / 'run'}"])
    assert done.returncode == 2
    assert "gil" in done.stderr and "enabled, disabled" in done.stderr
    assert not (tmp_path / "run").exists()


def test_gil_enabled_on_a_gil_build_runs_and_records_the_gil_as_asked(cli, tmp_path):
    if gil.free_threaded():
        pytest.skip("this interpreter is free-threaded")
    out = tmp_path / "run"
    done = cli(["primitive=thread", "times=1000", "repeats=2", "gil=enabled", f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "result.json").read_text())
    assert data["config"]["gil"] == "enabled"
    assert [run["gil_enabled"] for run in data["runs"]] == [True, True]
    assert data["gil"] == {"enabled_at_start": True, "enabled": True, "came_back": False, "reenabled_by": []}


def _run(python: str, **settings: Any):
    spec = validate(ExperimentSpec(**settings))
    return run_in_interpreter(python, spec, free_threaded=True)


def test_free_threaded_loses_updates_without_the_gil_and_keeps_them_with_it(free_threaded_python):
    off = _run(free_threaded_python.path, **THREADS_UNSAFE, repeats=10, gil="disabled")
    on = _run(free_threaded_python.path, **THREADS_UNSAFE, repeats=10, gil="enabled")
    lost_off = [run.outcome for run in off.runs].count("lost_updates")
    assert lost_off >= 9, [run.after for run in off.runs]
    assert [run.outcome for run in on.runs] == ["consistent"] * 10
    assert [run.gil_enabled for run in off.runs] == [False] * 10  # asked of the host process, not assumed
    assert [run.gil_enabled for run in on.runs] == [True] * 10
    assert (off.gil_at_start, on.gil_at_start) == (False, True)


# Every lock on every primitive, in one free-threaded child with the GIL disabled, under contention
_LOCKED = [(p, lock) for p in PRIMITIVES for lock in LOCK_SUPPORT[p] if lock != "none"]
_LOCKED_SCRIPT = textwrap.dedent("""
    import json, sys
    from dataclasses import asdict
    from synclab.kernel.runner import run_experiment
    from synclab.kernel.spec import ExperimentSpec
    cells = json.loads(sys.argv[1])
    found = {}
    for primitive, lock in cells:
        times = 200 if lock == "manager" else 5000
        spec = ExperimentSpec(primitive=primitive, lock=lock, workers=4, times=times, amount=3, initial=100,
                              repeats=1, direction="deposit")
        result = run_experiment(spec)
        found[primitive + "/" + lock] = [[r.outcome, r.after, r.expected, r.ops_done, r.ops_reported,
                                          r.ops_expected, r.gil_enabled] for r in result.runs]
    print(json.dumps(found))
""")


def _ft_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    env["PYTHONPATH"] = SRC
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def locked_without_the_gil(free_threaded_python) -> Dict[str, Any]:
    done = subprocess.run([free_threaded_python.path, "-c", _LOCKED_SCRIPT, json.dumps(_LOCKED)],
                          capture_output=True, text=True, timeout=600, env=_ft_env(PYTHON_GIL="0"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("cell", [f"{p}/{lock}" for p, lock in _LOCKED])
def test_every_lock_style_keeps_every_update_without_the_gil(locked_without_the_gil, cell):
    for outcome, after, expected, done, reported, ops_expected, gil_on in locked_without_the_gil[cell]:
        assert (outcome, after, done, reported) == ("consistent", expected, ops_expected, ops_expected)
        if cell.split("/")[0] in IN_PROCESS:
            assert gil_on is False


_COUNTS_SCRIPT = textwrap.dedent("""
    import json
    from synclab.kernel.runner import run_experiment
    from synclab.kernel.spec import ExperimentSpec
    found = {}
    for primitive in ("thread", "thread_pool", "asyncio"):
        spec = ExperimentSpec(primitive=primitive, lock="none", workers=64, times=2000, direction="deposit",
                              repeats=3, increment="read_call_write" if primitive == "asyncio" else "inplace")
        found[primitive] = [[r.ops_done, r.ops_reported, r.ops_expected, r.failed_workers, r.outcome, r.gil_enabled]
                            for r in run_experiment(spec).runs]
    print(json.dumps(found))
""")


def test_the_harness_counts_are_exact_without_the_gil_under_heavy_contention(free_threaded_python):
    """64 threads of tiny operations race on the balance; the harness's own counts never do."""
    done = subprocess.run([free_threaded_python.path, "-c", _COUNTS_SCRIPT], capture_output=True, text=True,
                          timeout=600, env=_ft_env(PYTHON_GIL="0"))
    assert done.returncode == 0, done.stderr
    for primitive, runs in json.loads(done.stdout).items():
        for ops_done, reported, expected, failed, outcome, gil_on in runs:
            assert (ops_done, reported, failed, gil_on) == (expected, expected, 0, False), primitive
            assert outcome in ("consistent", "lost_updates")


# A module of CPython's own test extensions that has not declared it can run without the GIL:
# importing it turns the GIL back on for the rest of the process.
_REENABLER = textwrap.dedent("""
    def load():
        import glob, importlib.machinery, importlib.util, sys, sysconfig
        where = sysconfig.get_paths()["platstdlib"] + "/lib-dynload/_testmultiphase*"
        path = glob.glob(where)[0]
        name = "_testmultiphase_nonmodule"
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        loader.exec_module(importlib.util.module_from_spec(spec))
""")


def _can_reenable(python: str) -> bool:
    probe = _REENABLER + "\nload()\nimport sys\nprint(sys._is_gil_enabled())"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60, env=_ft_env())
    return done.stdout.strip() == "True"


_CAME_BACK_SCRIPT = _REENABLER + textwrap.dedent("""
    import json
    from synclab.kernel import primitives, runner
    from synclab.kernel.spec import ExperimentSpec
    from synclab.records.resultfile import document
    plain = primitives.RUNNERS["process"]
    def first_repeat_imports(spec, calls=[]):
        if not calls:
            calls.append(1)
            load()  # as a workload's import would, in the middle of the run
        return plain(spec)
    primitives.RUNNERS["process"] = first_repeat_imports
    result = runner.run_experiment(ExperimentSpec(primitive="process", workers=2, times=100, repeats=2))
    print(json.dumps(document(result)))
""")


def test_an_import_that_turns_the_gil_back_on_is_detected_and_named(free_threaded_python):
    if not _can_reenable(free_threaded_python.path):
        pytest.skip(f"{free_threaded_python.path} has no test extension that re-enables the GIL")
    done = subprocess.run([free_threaded_python.path, "-c", _CAME_BACK_SCRIPT], capture_output=True, text=True,
                          timeout=120, env=_ft_env())
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["gil"] == {"enabled_at_start": False, "enabled": True, "came_back": True,
                           "reenabled_by": ["_testmultiphase_nonmodule"]}
    assert [run["gil_enabled"] for run in data["runs"]] == [True, True]
    judged = judge_result({**data, "interpreter": {"gil_enabled": True}}, 3)
    assert judged.gil_enabled is True and judged.inconsistencies == ()
    # the same record claiming the GIL stayed off is a claim its repeats contradict
    doctored = {**data, "interpreter": {"gil_enabled": False}, "gil": {**data["gil"], "enabled": False}}
    assert judge_result(doctored, 3).inconsistencies == (
        "claims gil.enabled False, interpreter.gil_enabled False; repeat 0 ran with the GIL",)


def test_a_gil_turned_on_at_start_up_is_recorded_with_its_cause(free_threaded_python, tmp_path):
    """An import before the experiment starts (here a sitecustomize) leaves the GIL on from the
    start: the run records it as run with the GIL, and the child's warning names the module."""
    if not _can_reenable(free_threaded_python.path):
        pytest.skip(f"{free_threaded_python.path} has no test extension that re-enables the GIL")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_REENABLER + "\nload()\n")
    spec = validate(ExperimentSpec(primitive="thread", workers=2, times=1000, repeats=1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(site))
        result = run_in_interpreter(free_threaded_python.path, spec, free_threaded=True)
    assert result.gil_at_start is True
    assert result.gil_reenabled_by == ("_testmultiphase_nonmodule",)
    assert [run.gil_enabled for run in result.runs] == [True]


def test_a_sweep_across_builds_and_gil_states_runs_what_exists_and_says_what_it_left_out(
        free_threaded_python, cli, tmp_path):
    if gil.free_threaded():
        pytest.skip("this interpreter is free-threaded: the sweep needs a build with the GIL beside one without")
    sweep = tmp_path / "sweep"
    pythons = f"{sys.executable},{free_threaded_python.path}"
    done = cli(["-m", "primitive=thread", "times=2000", "repeats=1", f"python={pythons}", "gil=enabled,disabled",
                f"hydra.sweep.dir={sweep}"])
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "2", "3"]  # job 1 does not exist
    not_run = json.loads((sweep / "not-run.json").read_text())
    assert [(entry["job"], entry["reason"].split(";")[0]) for entry in not_run] == [
        (1, "gil: 'disabled' needs a free-threaded build (python3.13t or newer)")]
    assert "not run: 1 job (" in done.stdout
    states = {}
    for job in ("0", "2", "3"):
        data = json.loads((sweep / job / "result.json").read_text())
        states[job] = (data["config"]["gil"], data["interpreter"]["free_threaded"], data["interpreter"]["gil_enabled"])
    assert states == {"0": ("enabled", False, True), "2": ("enabled", True, True), "3": ("disabled", True, False)}


def test_a_run_on_the_free_threaded_build_records_what_ran(free_threaded_python, cli, tmp_path):
    out = tmp_path / "run"
    done = cli(["primitive=thread", "times=1000", "repeats=2", f"python={free_threaded_python.path}",
                "gil=disabled", f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "result.json").read_text())
    env = json.loads((out / "env.json").read_text())
    assert data["interpreter"]["free_threaded"] is True and data["interpreter"]["gil_enabled"] is False
    assert env["python"]["free_threaded"] is True and env["python"]["gil_enabled"] is False
    assert data["gil"]["enabled"] is False and data["schema_version"] == SCHEMA_VERSION


def test_a_run_whose_gil_came_back_says_so_in_its_report():
    """The record of a run on a free-threaded build whose second repeat found the GIL back on,
    as the runner writes it: the report counts the run as run with the GIL and says why."""
    from synclab.kernel.runner import run_experiment
    from synclab.records.resultfile import document
    from synclab.reports.render import notes
    from synclab.reports.report import build, row_from_result

    data = document(run_experiment(ExperimentSpec(primitive="thread", workers=2, times=100, repeats=2)))
    data["runs"][0]["gil_enabled"], data["runs"][1]["gil_enabled"] = False, True
    data["gil"] = {"enabled_at_start": False, "enabled": True, "came_back": True, "reenabled_by": ["fastjson"]}
    data["interpreter"] = {"implementation": "CPython", "version": "3.13.5", "free_threaded": True,
                           "gil_enabled": True, "start_method": "fork"}
    row = row_from_result(data, path="7")
    assert row.inconsistencies == () and row.interpreter == "CPython 3.13.5 (free-threaded, GIL enabled)"
    assert ("GIL came back: job 7: the GIL was off at the start and came back on during the run (the import of "
            "fastjson); it is counted as a run with the GIL") in notes(build(".", [row]))
