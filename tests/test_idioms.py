"""synclab's library of idioms: every idiom beside its locked twin, the module and class targets,
what a locked twin does to its idiom, each on this interpreter, and on the free-threaded build
with the GIL disabled, where `x += 1` loses updates and no locked twin ever strays."""

from typing import Any, Dict, List

import pytest

import synclab
from synclab.kernel.stress import idioms
from synclab.kernel.stress.api import declaration
from synclab.kernel.stress.engine import run_stress
from synclab.kernel.stress.loading import load
from synclab.kernel.stress.remote import run
from synclab.kernel.stress.spec import StressSpec
from synclab.reports.idiom_table import idiom_table

# Each idiom on this interpreter: enough strides to run every actor, quick enough for 28 tests.
BUDGET_S = 0.05
STRIDE = 200
# On the free-threaded build: strides of 100,000 states, each test at least half a second. The
# two actors of a stride meet on one state only now and then (when one is held up and the other
# passes it), so a lost update in one idiom's half second is likely, not certain: what is
# asserted is that the five `+= 1` idioms between them lose one, which many whole-module runs
# on a noisy two-core machine always showed, while AttributeIncrement alone sometimes lost one
# update only.
# Every other idiom and twin runs there too, briefly: what is asserted of them is that nothing
# forbidden appears and that a locked twin sees only what is acceptable.
FREE_THREADED_BUDGET_S = 0.5
FREE_THREADED_STRIDE = 100_000
BRIEF_BUDGET_S = 0.05
BRIEF_STRIDE = 10_000
INCREMENTS = ("GlobalIncrement", "AttributeIncrement", "ListItemIncrement", "DictItemIncrement", "CounterItemIncrement")
INCREMENT_PATTERN = "Increment"  # the five idioms above and their locked twins, and nothing else


def _name(result: Dict[str, Any]) -> str:
    return str(result["test"]).rpartition(":")[2]


def test_every_idiom_has_a_locked_twin_and_a_line_that_says_what_it_shows() -> None:
    pairs = idioms.idioms()
    assert len(pairs) >= 14
    for racy, twin in pairs:
        test, locked = declaration(racy), declaration(twin)
        assert test is not None and locked is not None
        assert twin.__name__ == racy.__name__ + "Locked" and issubclass(twin, racy)
        assert test.description and locked.description and test.description != locked.description
        assert locked.actors == test.actors and locked.arbiter == test.arbiter
        for entry in test.declared:  # the answer table names an interesting outcome by its label
            if entry.grade == "interesting":
                assert ": " in entry.description, (racy.__name__, entry)


def test_the_module_target_runs_every_idiom_and_a_class_target_one() -> None:
    everything = load(idioms.TARGET)
    names = [test.title for test in everything]
    assert names == [cls.__name__ for pair in idioms.idioms() for cls in pair]
    assert [test.title for test in load(f"{idioms.TARGET}:LazyInitLocked")] == ["LazyInitLocked"]


def test_a_locked_twin_holds_its_lock_in_every_actor_and_forbids_what_was_interesting() -> None:
    @synclab.stress({"True": synclab.ACCEPTABLE, "False": synclab.INTERESTING("unlocked: no lock held")})
    class Held:
        """Says whether its state's lock is held while it runs."""

        def __init__(self) -> None:
            pass

        def actor1(self) -> bool:
            lock = getattr(self, idioms.LOCK, None)
            return lock is not None and lock.locked()

    twin = idioms.locked(Held, "Held under the lock.")
    assert Held().actor1() is False and twin().actor1() is True
    grades = {entry.key: (entry.grade, entry.description) for entry in declaration(twin).declared}
    assert grades == {"True": ("acceptable", ""), "False": ("forbidden", "with the lock held: unlocked: no lock held")}
    state = twin()
    assert getattr(state, idioms.LOCK) is not getattr(twin(), idioms.LOCK)  # one lock per state, none shared
    result = run_stress(declaration(twin), time_budget_s=0.01, stride=50)
    assert [(e.outcome, e.grade) for e in result.outcomes] == [("True", "acceptable")]


def test_the_global_idiom_updates_a_globals_dict_of_its_own_state() -> None:
    first, second = idioms.GlobalIncrement(), idioms.GlobalIncrement()
    assert first.bump.__globals__ is first.namespace and first.bump.__code__.co_names == ("x",)
    first.actor1()
    first.actor2()
    assert (first.arbiter(), second.arbiter()) == (2, 0)
    assert "x" not in vars(idioms)


@pytest.fixture(scope="module")
def here() -> List[Dict[str, Any]]:
    """Every idiom run once on this interpreter."""
    return [run_stress(test, time_budget_s=BUDGET_S, stride=STRIDE).to_dict() for test in load(idioms.TARGET)]


def test_every_idiom_runs_here_and_sees_only_what_it_declares(here: List[Dict[str, Any]]) -> None:
    assert len(here) == len(load(idioms.TARGET))
    for result in here:
        counts = [entry["count"] for entry in result["outcomes"]]
        assert result["samples"] >= STRIDE and sum(counts) == result["samples"], result["test"]
        assert result["error"] is None and result["warnings"] == [], result["test"]
        grades = {entry["grade"] for entry in result["outcomes"]}
        assert "forbidden" not in grades, result["outcomes"]
        assert "acceptable" in grades, result["outcomes"]
        if _name(result).endswith("Locked"):
            assert grades == {"acceptable"}, result["outcomes"]


def test_the_answer_table_has_a_row_per_idiom_run_here(here: List[Dict[str, Any]]) -> None:
    lines = idiom_table([("this interpreter", here)]).splitlines()
    assert [line.split()[0] for line in lines[3:]] == [_name(result) for result in here]
    locked = [line for line in lines[3:] if line.split()[0].endswith("Locked")]
    assert locked and all("never seen in" in line for line in locked)


def test_free_threaded_without_the_gil_increments_lose_updates_and_no_locked_twin_strays(
        free_threaded_python) -> None:
    env: List[Dict[str, Any]] = []
    brief = [result.to_dict() for result in run(
        StressSpec(target=idioms.TARGET, python=free_threaded_python.path, gil="disabled",
                   time_budget_s=BRIEF_BUDGET_S, stride=BRIEF_STRIDE), on_env=env.append)]
    increments = [result.to_dict() for result in run(
        StressSpec(target=idioms.TARGET, pattern=INCREMENT_PATTERN, python=free_threaded_python.path, gil="disabled",
                   time_budget_s=FREE_THREADED_BUDGET_S, stride=FREE_THREADED_STRIDE))]
    by_name = {_name(result): result for result in brief}
    expected = {test.title for test in load(idioms.TARGET)}
    if env[0]["python"]["version"].startswith("3.13"):
        expected.discard("GeneratorNext")  # withheld there: it would crash that interpreter
    assert set(by_name) == expected
    increment_names = {_name(result) for result in increments}
    assert increment_names == {name + twin for name in INCREMENTS for twin in ("", "Locked")}
    for result in (*brief, *increments):
        name = _name(result)
        assert result["gil_enabled"] is False, name
        grades = {entry["grade"] for entry in result["outcomes"]}
        assert "forbidden" not in grades and result["error"] is None, (name, result["outcomes"])
        if name.endswith("Locked"):
            assert grades == {"acceptable"}, (name, result["outcomes"])
    lost = [entry for result in increments if _name(result) in INCREMENTS
            for entry in result["outcomes"] if entry["outcome"] == "1"]
    assert all(entry["grade"] == "interesting" for entry in lost)
    assert sum(entry["count"] for entry in lost) > 0, [result["outcomes"] for result in increments]
