"""The runner end to end: races that reliably lose updates, locks that always hold, sharing
under every start method, and the not_shared, incomplete and timeout outcomes provoked on
purpose. Every wait here is bounded, and no test may leave a child process behind."""

import dataclasses
import multiprocessing
import threading
import time
from typing import Any, Dict, List

import pytest

from synclab.records.judge import judge_result
from synclab.kernel.results import ExperimentResult, RepeatResult
from synclab.records.resultfile import SCHEMA_VERSION, document
from synclab.kernel.runner import run_experiment
from synclab.kernel.spec import CROSS_PROCESS, LOCK_SUPPORT, PRIMITIVES, ConfigError, ExperimentSpec

START_METHODS = [
    pytest.param(m, marks=pytest.mark.skipif(m not in multiprocessing.get_all_start_methods(), reason=f"no {m} here"))
    for m in ("fork", "spawn", "forkserver")
]

# Parameters under which the unlocked variant loses updates in every repeat: every worker
# deposits (so lost updates can only lower the balance, never cancel out), and each worker does
# so many operations, all released together by the start barrier, that their loops overlap for
# tens of milliseconds, longer than the scheduler's time slices. Measured on this machine over
# hundreds of repeats, also with both cores kept busy by other processes: processes and pools
# with 2 x 200000 lost at least 74000 updates per repeat; threads (4 x 200000, a call between
# read and write, a 1 us switch interval) at least 300000; asyncio loses one per round, always.
# (Threads with 4 x 20000 are not reliable on a loaded machine: a loop fits in a time slice.)
RACES = {
    "process": dict(primitive="process", workers=2, times=200_000, direction="deposit"),
    "pool": dict(primitive="pool", workers=2, times=200_000, direction="deposit"),
    "thread": dict(
        primitive="thread", workers=4, times=200_000, direction="deposit",
        increment="read_call_write", switch_interval=1e-6,
    ),
    "asyncio": dict(primitive="asyncio", workers=2, times=1000, direction="deposit"),
}


def outcomes(result: ExperimentResult) -> List[str]:
    return [run.outcome for run in result.runs]


def assert_landed(run: RepeatResult, spec: ExperimentSpec) -> None:
    """Every operation was done and counted through the shared memory."""
    assert run.ops_expected == spec.ops_expected
    assert run.ops_reported == spec.ops_expected
    assert run.ops_done == spec.ops_expected
    assert run.failed_workers == 0


# --- races and locks ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RACES))
def test_race_prone_variant_loses_updates_in_every_repeat(name: str) -> None:
    spec = ExperimentSpec(lock="none", repeats=3, **RACES[name])  # type: ignore[arg-type]
    result = run_experiment(spec)
    assert outcomes(result) == ["lost_updates"] * 3
    for run in result.runs:
        assert_landed(run, spec)
        assert run.before == 0
        assert run.after is not None and 0 < run.after < spec.expected
        assert run.drift == run.after - spec.expected < 0
        assert run.grade == "interesting"


@pytest.mark.parametrize("name", sorted(RACES))
def test_the_same_race_with_a_lock_keeps_every_update(name: str) -> None:
    spec = ExperimentSpec(lock="explicit", repeats=2, **{**RACES[name], "times": RACES[name]["times"] // 4})  # type: ignore[arg-type]
    result = run_experiment(spec)
    assert outcomes(result) == ["consistent"] * 2
    for run in result.runs:
        assert_landed(run, spec)
        assert run.after == spec.expected and run.drift == 0


LOCKED = [(p, lock) for p in PRIMITIVES for lock in LOCK_SUPPORT[p] if lock != "none"]


@pytest.mark.parametrize("primitive, lock", LOCKED)
def test_every_lock_on_every_primitive_is_consistent(primitive: str, lock: str) -> None:
    times = 300 if lock == "manager" else 3000  # a manager lock is a round trip per operation
    spec = ExperimentSpec(primitive=primitive, lock=lock, workers=3, times=times, amount=3, initial=100, repeats=2)
    result = run_experiment(spec)
    assert outcomes(result) == ["consistent"] * 2
    for run in result.runs:
        assert_landed(run, spec)
        assert (run.before, run.after, run.expected) == (100, 100 + times * 3, spec.expected)
        assert run.grade == "acceptable"


def test_threads_unsafe_keeps_every_update_on_cpython_with_the_gil() -> None:
    """8 threads x 100000 `balance += 1`: CPython 3.10+ with the GIL switches threads only at
    calls and backward jumps, never inside `balance += amount`, so no update is lost."""
    import sys

    from synclab.kernel.env import gil_enabled

    if sys.implementation.name != "cpython" or sys.version_info < (3, 10) or not gil_enabled():
        pytest.skip("the answer differs: only CPython 3.10+ with the GIL keeps `+= 1` whole between switches")
    spec = ExperimentSpec(primitive="thread", lock="none", workers=8, times=100_000, direction="deposit", repeats=3)
    result = run_experiment(spec)
    assert outcomes(result) == ["consistent"] * 3
    assert all(run.after == 800_000 for run in result.runs)


# --- sharing under every start method -----------------------------------------------------------


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("primitive", CROSS_PROCESS)
def test_balance_is_shared_under_every_start_method(primitive: str, start_method: str) -> None:
    # 2 depositors and 1 withdrawer: the balance must move by times * amount to be right
    spec = ExperimentSpec(
        primitive=primitive, lock="explicit", workers=3, times=400, amount=5, initial=1000,
        start_method=start_method, repeats=1,
    )
    assert spec.expected == 1000 + 400 * 5 != spec.initial
    (run,) = run_experiment(spec).runs
    assert run.outcome == "consistent"
    assert_landed(run, spec)
    assert (run.before, run.after) == (1000, spec.expected)


@pytest.mark.parametrize("lock", ["explicit", "manager"])  # a daemonic pool worker cannot start a Manager
@pytest.mark.parametrize("start_method", [m for m in START_METHODS if m.values[0] != "fork"])
def test_inherited_balance_is_not_shared_under_spawn_or_forkserver(start_method: str, lock: str) -> None:
    """The notebook's module-level Value reaches pool workers only through fork: a spawned worker
    re-imports the module and updates a Value of its own, and the parent's never moves."""
    spec = ExperimentSpec(
        primitive="pool", lock=lock, sharing="inherited", workers=3, times=200, amount=5,
        initial=1000, start_method=start_method, repeats=2,
    )
    result = run_experiment(spec)
    assert outcomes(result) == ["not_shared"] * 2
    for run in result.runs:
        assert run.ops_reported == spec.ops_expected  # the workers did their work...
        assert run.ops_done == 0  # ...where the parent cannot see it
        assert run.after == run.before == 1000  # a balance that never moved is no proof of safety
        assert run.grade == "forbidden"
    assert document(result)["summary"]["forbidden"] == ["not_shared"]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_inherited_balance_is_shared_under_fork() -> None:
    spec = ExperimentSpec(
        primitive="pool", lock="explicit", sharing="inherited", workers=3, times=200, amount=5,
        initial=1000, start_method="fork", repeats=2,
    )
    result = run_experiment(spec)
    assert outcomes(result) == ["consistent"] * 2
    for run in result.runs:
        assert_landed(run, spec)
        assert run.after == spec.expected == 2000


# --- incomplete: workers killed on purpose ---------------------------------------------------------


def _children(count: int, within_s: float = 20.0) -> List[Any]:
    """Poll, with a bound, until this process has ``count`` live children."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        children = [c for c in multiprocessing.active_children() if c.is_alive()]
        if len(children) >= count:
            return children
        time.sleep(0.01)
    pytest.fail(f"expected {count} child processes within {within_s} s, saw {multiprocessing.active_children()}")


def _run_in_background(spec: ExperimentSpec) -> "tuple[threading.Thread, Dict[str, Any]]":
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = run_experiment(spec)
        except BaseException as error:  # surfaced by the test, not lost in the thread
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def _finish(thread: threading.Thread, box: Dict[str, Any], within_s: float = 20.0) -> ExperimentResult:
    thread.join(within_s)
    assert not thread.is_alive(), "the runner did not return after its workers were killed"
    assert "error" not in box, box.get("error")
    return box["result"]


@pytest.mark.parametrize(
    "primitive, children",
    [("process", 2), ("thread", 1), ("pool", 2)],  # threads run inside one host process; a Pool
    # replaces a dead worker and drops its task, which must not read as a timeout
)
def test_killed_workers_make_the_repeat_incomplete(primitive: str, children: int) -> None:
    # 3000 operations after 10 ms sleeps each: about 30 s of work, far from done when killed
    spec = ExperimentSpec(
        primitive=primitive, lock="none", workers=2, times=3000, sleep=0.01, timeout_s=30.0, repeats=1,
        start_method="fork" if "fork" in multiprocessing.get_all_start_methods() else None,
    )
    thread, box = _run_in_background(spec)
    try:
        victims = _children(children)
    finally:
        for child in multiprocessing.active_children():
            child.kill()
    assert len(victims) == children
    (run,) = _finish(thread, box).runs
    assert run.outcome == "incomplete"
    assert run.failed_workers == 2
    assert run.ops_reported < spec.ops_expected
    assert run.grade == "forbidden"
    assert multiprocessing.active_children() == []


# --- timeouts: a blocking workload is stopped ------------------------------------------------------


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_blocking_workload_times_out_and_leaves_no_child(primitive: str) -> None:
    # each worker sleeps 5 s before its one operation; the repeat may live 0.5 s
    repeats = 2 if primitive in ("thread", "process") else 1  # the next repeat goes on after a timeout
    spec = ExperimentSpec(primitive=primitive, workers=2, times=1, sleep=5.0, timeout_s=0.5, repeats=repeats)
    result = run_experiment(spec)
    assert outcomes(result) == ["timeout"] * repeats
    for run in result.runs:
        assert run.ops_done < spec.ops_expected
        assert run.grade == "forbidden"
    assert multiprocessing.active_children() == []


def test_timeout_grade_can_be_overridden() -> None:
    spec = ExperimentSpec(
        primitive="process", workers=1, times=1, sleep=5.0, timeout_s=0.3, repeats=1, grades={"timeout": "acceptable"}
    )
    (run,) = run_experiment(spec).runs
    assert (run.outcome, run.grade) == ("timeout", "acceptable")


# --- the runner's contract -----------------------------------------------------------------------


def test_on_repeat_sees_every_repeat_in_order() -> None:
    spec = ExperimentSpec(primitive="thread", lock="explicit", workers=2, times=100, repeats=4)
    seen: List[RepeatResult] = []
    result = run_experiment(spec, on_repeat=seen.append)
    assert [run.repeat for run in seen] == [0, 1, 2, 3]
    assert seen == result.runs
    assert result.spec is spec


def test_a_bad_spec_starts_nothing() -> None:
    seen: List[RepeatResult] = []
    with pytest.raises(ConfigError, match="^workers: "):
        run_experiment(ExperimentSpec(workers=0), on_repeat=seen.append)
    assert seen == [] and multiprocessing.active_children() == []


def test_result_dict_is_consistent_with_its_runs() -> None:
    spec = ExperimentSpec(primitive="process", lock="explicit", workers=3, times=500, amount=2, initial=7, repeats=3)
    data = document(run_experiment(spec))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["config"] == dataclasses.asdict(spec)
    assert [run["repeat"] for run in data["runs"]] == [0, 1, 2]
    assert data["summary"]["repeats"] == 3
    assert data["summary"]["outcomes"] == {"consistent": 3}
    assert data["summary"]["drift_min"] == data["summary"]["drift_max"] == 0
    judged = judge_result(data, SCHEMA_VERSION)  # what every reader derives agrees with what the runner wrote
    assert judged.inconsistencies == ()
    assert [(r.outcome, r.grade) for r in judged.runs] == [(run["outcome"], run["grade"]) for run in data["runs"]]
    for run in data["runs"]:
        assert run["timed_out"] is False
        assert run["expected"] == 7 + 500 * 2 and run["ops_expected"] == 1500
        assert run["work_s"] is not None and run["work_s"] > 0
        assert run["ops_per_s"] == pytest.approx(run["ops_done"] / run["work_s"], rel=1e-3)
