"""workload=stress through Hydra: the config group and stress.* keys, a run that lands in the usual
run directory as a stress result.json, refusals in one line with nothing written, and a sweep across
GIL states on a free-threaded build."""

import json
import platform
import shutil
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from synclab.app.config import to_stress_spec, workload_of
from synclab.kernel.spec import ConfigError
from synclab.records.stressjudge import judge_stress

COUNTER = ROOT / "tests" / "fixtures" / "stress" / "counter_increment.py"


def test_the_default_workload_is_balance_and_stress_keys_compose_into_a_spec(compose) -> None:
    assert workload_of(compose()) == "balance"
    cfg = compose(["workload=stress", f"stress.target={COUNTER}", "stress.pattern=Counter",
                   "stress.time_budget_s=0.5", "stress.stride=200", "stress.threads_per_actor=2",
                   "switch_interval=0.0001", "python=3.10"])
    assert workload_of(cfg) == "stress"
    spec = to_stress_spec(cfg)
    assert (spec.target, spec.pattern, spec.time_budget_s, spec.stride, spec.threads_per_actor, spec.switch_interval,
            spec.python, spec.gil) == (str(COUNTER), "Counter", 0.5, 200, 2, 0.0001, "3.10", None)


@pytest.mark.parametrize("overrides, message", [
    (["workload=stress"], "stress.target: workload=stress needs the tests to run"),
    (["workload=stress", "stress.target=x.py", "stress.stride=0"], "stress.stride: states per stride"),
    (["workload=stress", "stress.target=x.py", "stress.time_budget_s=-1"], "stress.time_budget_s"),
])
def test_stress_settings_out_of_range_are_one_line(compose, overrides, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        to_stress_spec(compose(overrides))


@pytest.mark.parametrize("args, message", [
    (["workload=strss"], "workload: unknown option 'strss'; choose from balance, stress"),
    (["workload=stress", "stress.stride=abc"], "stress.stride: Value 'abc' of type 'str' could not be converted"),
    (["stress.nope=1"], "stress.nope: not a synclab setting"),
    (["workload=stress", "stress.target=tests/fixtures/stress/no_such_file.py"], "no_such_file.py: no such file"),
    (["workload=stress", f"stress.target={COUNTER}:Nope"], "has no class 'Nope'"),
])
def test_a_refused_stress_run_is_one_line_and_writes_nothing(cli, tmp_path: Path, args, message: str) -> None:
    out = tmp_path / "run"
    done = cli([*args, f"hydra.run.dir={out}"])
    assert done.returncode == 2, done.stderr
    assert done.stderr_lines[-1].startswith("synclab: configuration error: ") and message in done.stderr_lines[-1]
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_a_stress_run_lands_in_its_run_directory_as_a_judged_record(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = cli(["workload=stress", f"stress.target={COUNTER}", "stress.time_budget_s=0.1", f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [".hydra", "env.json", "result.json", "run.log"]
    data = json.loads((out / "result.json").read_text())
    assert (data["schema_version"], data["workload"]) == (4, "stress")
    assert data["overrides"] == ["workload=stress", f"stress.target={COUNTER}", "stress.time_budget_s=0.1"]
    judged = judge_stress(data)
    assert judged.inconsistencies == ()
    [test] = judged.tests
    assert test.test == "counter_increment:CounterIncrement" and test.samples > 0
    assert "counter_increment:CounterIncrement  (CPython" in done.stdout  # its histogram, printed as it ended
    assert "1 stress test, " in done.stdout.splitlines()[-1]
    assert f"counter_increment:CounterIncrement: {test.samples} samples" in (out / "run.log").read_text()


def test_the_idioms_sweep_across_gil_states_records_each_state_and_ends_in_the_answer_table(
        cli, tmp_path: Path, free_threaded_python) -> None:
    """The idioms preset over a copy of one test, with gil=enabled,disabled on the free-threaded
    build and on this GIL build, where gil=disabled is listed as not run: every job that ran says
    the GIL state its tests saw, lost updates (1) can only be among those without the GIL, and the
    sweep ends in the answer table, a column per interpreter and GIL state."""
    target = tmp_path / "counter_increment.py"
    shutil.copy(COUNTER, target)
    sweep = tmp_path / "sweep"
    done = cli(["-m", "+experiment=idioms", f"stress.target={target}", "stress.time_budget_s=0.2",
                f"python={free_threaded_python.path},{sys.executable}", "gil=enabled,disabled",
                f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.plots=false"])
    assert done.returncode == 0, done.stderr
    states = {}
    for result in sorted(sweep.glob("*/result.json")):
        data = json.loads(result.read_text())
        judged = judge_stress(data)
        assert judged.inconsistencies == ()
        states[(data["interpreter"]["free_threaded"], data["config"]["gil"])] = judged
    assert sorted(states) == [(False, "enabled"), (True, "disabled"), (True, "enabled")]
    assert states[True, "enabled"].gil_enabled is True and states[True, "disabled"].gil_enabled is False
    assert [o.outcome for o in states[True, "enabled"].tests[0].outcomes] == ["2"]
    assert {o.outcome for o in states[True, "disabled"].tests[0].outcomes} <= {"1", "2"}
    assert "gil=disabled" in (sweep / "not-run.json").read_text()
    table = (sweep / "answer.md").read_text()
    assert done.stdout.endswith(table)
    header = [cell.strip() for cell in table.splitlines()[1].split("  ") if cell.strip()]
    version = free_threaded_python.version
    assert header == ["test", f"CPython {platform.python_version()}, GIL on", f"CPython {version}t, GIL on",
                      f"CPython {version}t, GIL off"]
    [row] = table.splitlines()[3:]
    assert row.startswith("CounterIncrement ")
