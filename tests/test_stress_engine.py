"""The stress-test kernel: declarations and their errors, grading by key and pattern, the engine's
counts, errors inside actors, the time budget, and a race that the free-threaded build shows."""

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import synclab
from synclab.kernel.stress import api
from synclab.kernel.stress.engine import MAX_OUTCOMES, run_stress
from synclab.kernel.stress.grading import OTHER
from synclab.kernel.stress.grading import Grader
from synclab.kernel.stress.loading import load

SRC = Path(__file__).resolve().parents[1] / "src"


def _counter(lock: bool = False) -> type:
    guard = threading.Lock() if lock else contextlib.nullcontext()

    def bump(self):
        with guard:
            self.x += 1

    @synclab.stress(outcomes={"2": synclab.ACCEPTABLE, "1": synclab.INTERESTING("lost update")})
    class Counter:
        def __init__(self):
            self.x = 0

        actor1 = bump
        actor2 = bump

        def arbiter(self):
            return self.x

    return Counter


def _test(cls: type) -> api.StressTest:
    found = api.declaration(cls)
    assert found is not None
    return found


# --- declarations -------------------------------------------------------------------------------

def test_a_declaration_keeps_actors_in_definition_order_and_the_class_unchanged() -> None:
    @synclab.stress(outcomes={"1, 2": synclab.ACCEPTABLE}, default=synclab.INTERESTING)
    class Order:
        """Three actors, defined out of alphabetical order."""

        def actor2(self):
            return 2

        def actor10(self):
            return 10

        def actor1(self):
            return 1

    test = _test(Order)
    assert test.actors == ("actor2", "actor10", "actor1")
    assert test.arbiter is False
    assert test.default == "interesting"
    assert test.description == "Three actors, defined out of alphabetical order."
    assert test.declared == (api.Declared("1, 2", False, "acceptable", ""),)
    assert Order().actor10() == 10  # still a plain class
    assert test.name.endswith(":test_a_declaration_keeps_actors_in_definition_order_and_the_class_unchanged.<locals>.Order")


@pytest.mark.parametrize("make, message", [
    (lambda: synclab.stress()(type("NoActor", (), {"arbiter": lambda self: 1})), "NoActor: no actor"),
    (lambda: synclab.stress()(lambda: None), "decorates a class"),
    (lambda: synclab.stress(type("Bare", (), {"actor1": lambda self: 1})), "with parentheses"),
    (lambda: synclab.stress(outcomes={"1": "maybe"})(type("BadGrade", (), {"actor1": lambda self: 1})),
     "BadGrade: outcome '1': takes synclab.ACCEPTABLE"),
    (lambda: synclab.stress(outcomes={1: synclab.ACCEPTABLE})(type("IntKey", (), {"actor1": lambda self: 1})),
     "IntKey: outcome key 1: write it as the outcome reads"),
    (lambda: synclab.stress(outcomes=[("1", synclab.ACCEPTABLE)])(type("NotDict", (), {"actor1": lambda self: 1})),
     "NotDict: outcomes= takes a dict"),
    (lambda: synclab.match("(unclosed"), "not a regular expression"),
    (lambda: synclab.INTERESTING(3), "the description must be a string"),
    (lambda: synclab.stress(default="sometimes")(type("BadDefault", (), {"actor1": lambda self: 1})),
     "BadDefault: outcome 'default=': takes"),
    (lambda: synclab.stress()(type("Static", (), {"actor1": staticmethod(lambda: 1)})), "an actor is a plain method"),
])
def test_a_bad_declaration_is_refused_in_one_line_naming_the_class(make, message: str) -> None:
    with pytest.raises(synclab.StressError) as raised:
        make()
    text = str(raised.value)
    assert message in text
    assert "\n" not in text


def test_grades_are_an_enum_whose_values_are_the_kernel_grades() -> None:
    from synclab.kernel.outcome import GRADES

    assert tuple(grade.value for grade in synclab.Grade) == GRADES
    assert synclab.INTERESTING("why") == api.Expect(synclab.Grade.INTERESTING, "why")


# --- grading ------------------------------------------------------------------------------------

def test_exact_keys_win_over_patterns_and_patterns_go_in_declared_order() -> None:
    grader = Grader((
        api.Declared(r"\d+", True, "interesting", "a number"),
        api.Declared("7", False, "acceptable", "seven"),
        api.Declared(r"7\d*", True, "forbidden", "never reached for 7x: the first pattern matches"),
    ), "forbidden")
    assert grader.grade("7") == ("acceptable", "seven")
    assert grader.grade("71") == ("interesting", "a number")
    assert grader.grade("7a") == ("forbidden", "")  # patterns match the whole outcome, else the default
    assert grader.grade("error") == ("forbidden", "an actor or the arbiter raised")


def test_error_is_forbidden_unless_declared_by_its_exact_key() -> None:
    loose = Grader((api.Declared(".*", True, "acceptable", ""),), "acceptable")
    assert loose.grade("error")[0] == "forbidden"
    declared = Grader((api.Declared("error", False, "interesting", "expected to raise"),), "forbidden")
    assert declared.grade("error") == ("interesting", "expected to raise")


# --- the engine ---------------------------------------------------------------------------------

def test_the_histogram_adds_up_to_the_samples_and_the_budget_is_honoured() -> None:
    result = run_stress(_test(_counter(lock=True)), time_budget_s=0.2, stride=500)
    assert result.samples == result.strides * 500 > 0
    assert sum(entry.count for entry in result.outcomes) == result.samples
    assert [entry.outcome for entry in result.outcomes] == ["2"]  # with a lock, never a lost update
    assert result.status == "acceptable"
    assert result.seconds >= 0.2  # the budget is a minimum: the stride in progress finishes
    assert result.to_dict()["samples_per_s"] == round(result.samples / result.seconds, 1)


def test_one_stride_runs_even_when_the_budget_is_tiny() -> None:
    result = run_stress(_test(_counter(lock=True)), time_budget_s=1e-9, stride=10)
    assert (result.strides, result.samples) == (1, 10)


def test_an_actor_that_raises_counts_as_error_once_per_sample_with_its_traceback_kept() -> None:
    @synclab.stress(outcomes={"1": synclab.ACCEPTABLE})
    class SometimesRaises:
        count = 0

        def __init__(self):
            type(self).count += 1
            self.n = type(self).count

        def actor1(self):
            if self.n % 3 == 0:
                raise RuntimeError("every third state")
            return 1

    result = run_stress(_test(SometimesRaises), time_budget_s=0.05, stride=300)
    counts = {entry.outcome: (entry.count, entry.grade) for entry in result.outcomes}
    assert set(counts) == {"1", "error"}
    assert counts["error"][1] == "forbidden"
    assert counts["error"][0] + counts["1"][0] == result.samples
    assert 0.25 < counts["error"][0] / result.samples < 0.4
    assert "RuntimeError: every third state" in result.error
    assert result.status == "forbidden"


def test_a_state_that_cannot_be_built_stops_before_any_actor_runs() -> None:
    ran = []

    @synclab.stress()
    class Broken:
        def __init__(self):
            raise OSError("no state")

        def actor1(self):
            ran.append(1)

    with pytest.raises(synclab.StressError, match="Broken: the state cannot be built: OSError: no state"):
        run_stress(_test(Broken), time_budget_s=0.01)
    assert ran == []


def test_values_are_written_as_jcstress_writes_them_and_none_is_left_out() -> None:
    @synclab.stress(outcomes={"True, [1]": synclab.ACCEPTABLE})
    class Shapes:
        def __init__(self):
            pass

        def actor1(self):
            return True

        def actor2(self):
            pass  # returns nothing: not part of the outcome

        def arbiter(self):
            return [1]  # unhashable: counted by its text

    result = run_stress(_test(Shapes), time_budget_s=0.01, stride=50)
    assert [(e.outcome, e.grade) for e in result.outcomes] == [("True, [1]", "acceptable")]
    assert result.warnings == ()


def test_a_key_that_cannot_match_what_the_test_returns_is_a_warning() -> None:
    @synclab.stress(outcomes={"1,1": synclab.ACCEPTABLE, "1, 1": synclab.ACCEPTABLE})
    class TwoValues:
        def __init__(self):
            pass

        def actor1(self):
            return 1

        def actor2(self):
            return 1

    result = run_stress(_test(TwoValues), time_budget_s=0.01, stride=20)
    assert result.status == "acceptable"
    assert len(result.warnings) == 1 and "outcome key '1,1' holds 1 value(s)" in result.warnings[0]


def test_distinct_outcomes_beyond_the_bound_are_counted_in_one_bucket() -> None:
    @synclab.stress(default=synclab.ACCEPTABLE)
    class Many:
        n = 0

        def __init__(self):
            type(self).n += 1
            self.i = type(self).n

        def actor1(self):
            return self.i

    result = run_stress(_test(Many), time_budget_s=1e-9, stride=MAX_OUTCOMES + 50)
    assert len(result.outcomes) == MAX_OUTCOMES + 1
    other = [e for e in result.outcomes if e.outcome == OTHER]
    assert other and other[0].count == 50
    assert sum(e.count for e in result.outcomes) == result.samples


@pytest.mark.parametrize("settings, message", [
    ({"time_budget_s": 0}, "stress.time_budget_s"),
    ({"time_budget_s": True}, "stress.time_budget_s"),
    ({"stride": 0}, "stress.stride"),
    ({"stride": 2.5}, "stress.stride"),
    ({"threads_per_actor": 33}, "stress.threads_per_actor"),
    ({"switch_interval": 0}, "switch_interval"),
])
def test_settings_out_of_range_are_refused_before_anything_runs(settings, message: str) -> None:
    with pytest.raises(synclab.StressError, match=message):
        run_stress(_test(_counter()), **settings)
    assert threading.active_count() == 1 or not any(t.name.startswith("synclab-actor") for t in threading.enumerate())


def test_threads_per_actor_out_of_range_counts_the_actors_only_once_a_test_says_how_many() -> None:
    from synclab.kernel.stress.spec import StressSpec, problems

    assert problems(StressSpec("counter.py", threads_per_actor=0)) == [
        "stress.threads_per_actor: an integer >= 1, with at most 64 threads in all, got 0"]  # no "(1 actor)" guessed
    with pytest.raises(synclab.StressError, match=r"at most 64 threads in all \(2 actors\), got 33$"):
        run_stress(_test(_counter()), threads_per_actor=33)


def test_the_switch_interval_is_set_for_the_run_and_restored() -> None:
    before = sys.getswitchinterval()
    seen = []

    @synclab.stress(default=synclab.ACCEPTABLE)
    class Interval:
        def __init__(self):
            pass

        def actor1(self):
            seen.append(sys.getswitchinterval())

    result = run_stress(_test(Interval), time_budget_s=1e-9, stride=1, switch_interval=1e-5)
    assert seen == [pytest.approx(1e-5)] and result.switch_interval == 1e-5
    assert sys.getswitchinterval() == before


def test_no_actor_thread_outlives_the_run() -> None:
    run_stress(_test(_counter()), time_budget_s=0.02)
    assert not [t for t in threading.enumerate() if t.name.startswith("synclab-actor")]


# --- loading ------------------------------------------------------------------------------------

MODULE = textwrap.dedent('''
    import synclab
    from helper import START   # a neighbour of this file

    @synclab.stress(outcomes={"2": synclab.ACCEPTABLE, "1": synclab.INTERESTING("lost update")})
    class CounterIncrement:
        def __init__(self):
            self.x = START
        def actor1(self):
            self.x += 1
        def actor2(self):
            self.x += 1
        def arbiter(self):
            return self.x

    @synclab.stress(outcomes={"1": synclab.ACCEPTABLE})
    class Single:
        def __init__(self):
            pass
        def actor1(self):
            return 1

    class NotATest:
        pass
''')


@pytest.fixture
def tests_file(tmp_path: Path) -> Path:
    (tmp_path / "helper.py").write_text("START = 0\n")
    path = tmp_path / "stress_counter.py"
    path.write_text(MODULE)
    return path


def test_a_file_a_class_in_it_and_a_pattern_select_tests(tests_file: Path) -> None:
    assert [t.title for t in load(str(tests_file))] == ["CounterIncrement", "Single"]
    assert [t.title for t in load(f"{tests_file}:Single")] == ["Single"]
    assert [t.title for t in load(str(tests_file), "Counter")] == ["CounterIncrement"]
    assert [t.title for t in load(str(tests_file.parent))] == ["CounterIncrement", "Single"]


@pytest.mark.parametrize("target, message", [
    ("{dir}/missing.py", "missing.py: no such file"),
    ("{file}:Nope", "has no class 'Nope'"),
    ("{file}:NotATest", "NotATest: not a stress test"),
    ("no_such_module_anywhere", "no_such_module_anywhere: cannot import it: ModuleNotFoundError"),
    ("not a module", "neither a file, a directory nor a module name"),
    ("  ", "stress.target: names the tests to run"),
])
def test_a_target_that_names_no_test_is_one_line(tests_file: Path, target: str, message: str) -> None:
    with pytest.raises(synclab.StressError) as raised:
        load(target.format(dir=tests_file.parent, file=tests_file))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_file_that_fails_to_import_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad_stress.py"
    bad.write_text("import synclab\nraise ZeroDivisionError('at import')\n")
    with pytest.raises(synclab.StressError, match="bad_stress.py: cannot import it: ZeroDivisionError: at import"):
        load(str(bad))
    assert "bad_stress" not in sys.modules


def test_a_pattern_that_selects_nothing_says_so(tests_file: Path) -> None:
    with pytest.raises(synclab.StressError, match="no stress test whose name contains 'Zzz' found"):
        load(str(tests_file), "Zzz")


# --- the race itself, on a free-threaded build ----------------------------------------------------

RUN_IN_CHILD = textwrap.dedent('''
    import json, sys
    from synclab.kernel.stress.engine import run_stress
    from synclab.kernel.stress.loading import load
    print(json.dumps([run_stress(t, time_budget_s=float(sys.argv[2])).to_dict() for t in load(sys.argv[1])]))
''')

LOCKED = textwrap.dedent('''
    import threading
    import synclab

    @synclab.stress(outcomes={"2": synclab.ACCEPTABLE, "1": synclab.INTERESTING("lost update")})
    class LockedIncrement:
        lock = threading.Lock()
        def __init__(self):
            self.x = 0
        def actor1(self):
            with self.lock:
                self.x += 1
        def actor2(self):
            with self.lock:
                self.x += 1
        def arbiter(self):
            return self.x
''')


def _in(python: str, target: str, budget: float, gil: str) -> list:
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHON_GIL": gil}
    done = subprocess.run([python, "-c", RUN_IN_CHILD, target, str(budget)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_free_threaded_without_the_gil_shows_the_lost_update_and_a_lock_never_does(
        free_threaded_python, tests_file: Path, tmp_path: Path) -> None:
    """Two threads, one += each, a million samples a second: without the GIL the two actors of a
    stride overlap on states often enough that a one-second budget shows lost updates (1) by the
    hundred; with a lock, none in the same budget."""
    locked = tmp_path / "locked_stress.py"
    locked.write_text(LOCKED)
    [racy] = _in(free_threaded_python.path, f"{tests_file}:CounterIncrement", 1.0, "0")
    assert racy["gil_enabled"] is False
    counts = {entry["outcome"]: entry for entry in racy["outcomes"]}
    assert counts["1"]["grade"] == "interesting" and counts["1"]["count"] > 0
    assert set(counts) <= {"1", "2"}
    [safe] = _in(free_threaded_python.path, str(locked), 1.0, "0")
    assert safe["gil_enabled"] is False and safe["samples"] > 10_000
    assert [(e["outcome"], e["grade"]) for e in safe["outcomes"]] == [("2", "acceptable")]


def test_the_gil_setting_runs_the_tests_in_a_fresh_interpreter_of_that_state(
        free_threaded_python, tests_file: Path) -> None:
    """gil=enabled and gil=disabled on the same free-threaded build, through the child entry: each
    result says the GIL state it ran in, and only the run without the GIL may lose an update."""
    from synclab.kernel.stress.remote import run
    from synclab.kernel.stress.spec import StressSpec

    by_state = {}
    for setting in ("enabled", "disabled"):
        spec = StressSpec(f"{tests_file}:CounterIncrement", time_budget_s=0.5, python=free_threaded_python.path,
                          gil=setting)
        [result] = run(spec)
        by_state[setting] = result
        assert sum(e.count for e in result.outcomes) == result.samples > 0
    assert by_state["enabled"].gil_enabled is True and by_state["disabled"].gil_enabled is False
    assert [e.outcome for e in by_state["enabled"].outcomes] == ["2"]


def test_gil_disabled_on_a_build_with_the_gil_is_refused(tests_file: Path) -> None:
    from synclab.kernel.gil import GilUnavailable, free_threaded
    from synclab.kernel.stress.remote import run
    from synclab.kernel.stress.spec import StressSpec

    if free_threaded():
        pytest.skip("this interpreter is a free-threaded build")
    with pytest.raises(GilUnavailable, match="gil: 'disabled' needs a free-threaded build"):
        run(StressSpec(str(tests_file), gil="disabled"))
