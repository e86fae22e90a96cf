"""Run a stress test: actors over strides of fresh states, every outcome counted.

As in jcstress, one thread per actor walks the same list of fresh states (a stride); all of
them are released together behind a barrier, and the arbiter runs over the stride once they
have all joined. Which thread runs which actor rotates from stride to stride, so that no actor
always gets the thread that wakes first. The measured window holds the actor calls and nothing
else: each thread maps its actor over the stride in C (``map``), states are built before the
barrier, and outcomes are counted after the join, from what each actor returned.

Every count is the main thread's or one thread's own list: nothing the harness keeps is shared
between threads while they run, so the harness cannot race, GIL or no GIL.
"""

import collections
import sys
import threading
import time
import traceback
from typing import Any, Callable, Counter, Dict, List, Optional, Sequence, Tuple

from synclab.kernel import gil
from synclab.kernel.stress.api import ERROR, StressError, StressTest
from synclab.kernel.stress.grading import OTHER, Grader, unreachable_keys
from synclab.kernel.stress.loading import load
from synclab.kernel.stress.result import OutcomeCount, StressResult
from synclab.kernel.stress.spec import DEFAULT_STRIDE, DEFAULT_TIME_BUDGET_S, StressSpec, problems

STRIDE_TIMEOUT_S = 60.0  # an actor that has not finished a stride by then is reported, not waited for
# Bounds on what a run keeps: distinct outcomes beyond MAX_OUTCOMES are counted in one bucket
# (graded as the worst of them), and an outcome's text is cut at MAX_OUTCOME_CHARS.
MAX_OUTCOMES = 1000
MAX_OUTCOME_CHARS = 200
_FOLD_AT = 10_000  # distinct value tuples kept before they are turned into outcome text

_FAILED = object()  # stands for the value of a call that raised
_GRADE_ORDER = {"acceptable": 0, "interesting": 1, "forbidden": 2}


def _apply(function: Callable[[Any], Any], states: Sequence[Any], errors: List[str]) -> List[Any]:
    """``function`` over every state, in C; a call that raises gives _FAILED and the rest go on."""
    out: List[Any] = []
    remaining = iter(states)
    while True:
        try:
            out.extend(map(function, remaining))
            return out
        except Exception:
            out.append(_FAILED)
            if not errors:
                errors.append(traceback.format_exc())


class _Stride:
    """What the main thread hands the actor threads for one stride (read-only while they run)."""

    def __init__(self) -> None:
        self.states: Sequence[Any] = ()
        self.number = 0
        self.stop = False


def _actor_thread(slot: int, functions: Sequence[Callable[[Any], Any]], stride: _Stride, barrier: threading.Barrier,
                  outs: List[Any], errors: List[str]) -> None:
    try:
        while True:
            barrier.wait()
            if stride.stop:
                return
            position = (slot + stride.number) % len(functions)
            outs[position] = _apply(functions[position], stride.states, errors)
            barrier.wait()
    except threading.BrokenBarrierError:  # the run was cut short: the main thread says why
        return


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def outcome_text(values: Tuple[Any, ...]) -> str:
    """One sample's outcome: the values returned (None means nothing returned), ``", "``-joined."""
    if any(value is _FAILED for value in values):
        return ERROR
    text = ", ".join(_text(value) for value in values if value is not None)
    return text if len(text) <= MAX_OUTCOME_CHARS else text[: MAX_OUTCOME_CHARS - 1] + "\u2026"


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except Exception:  # a list, a dict: counted by its text
        return _text(value)


def _count(columns: Sequence[Sequence[Any]]) -> Counter:
    """How often each tuple of returned values occurred in one stride."""
    counted: Counter = collections.Counter()
    try:
        counted.update(zip(*columns))
    except Exception:  # an unhashable value, or one whose __eq__ or __hash__ raises
        counted = collections.Counter(tuple(map(_hashable, row)) for row in zip(*columns))
    return counted


class _Histogram:
    """Outcome text -> count, bounded: see MAX_OUTCOMES."""

    def __init__(self, grader: Grader) -> None:
        self.grader = grader
        self.values: Counter = collections.Counter()
        self.outcomes: Dict[str, int] = {}
        self.other = 0
        self.other_grade = "acceptable"

    def add(self, counted: Counter) -> None:
        self.values.update(counted)
        if len(self.values) > _FOLD_AT:
            self.fold()

    def fold(self) -> None:
        for values, count in self.values.items():
            text = outcome_text(values)
            if text in self.outcomes or len(self.outcomes) < MAX_OUTCOMES:
                self.outcomes[text] = self.outcomes.get(text, 0) + count
            else:
                self.other += count
                grade = self.grader.grade(text)[0]
                if _GRADE_ORDER.get(grade, 2) > _GRADE_ORDER.get(self.other_grade, 2):
                    self.other_grade = grade
        self.values.clear()

    def entries(self) -> Tuple[OutcomeCount, ...]:
        self.fold()
        found = [OutcomeCount(text, count, *self.grader.grade(text)) for text, count in self.outcomes.items()]
        if self.other:
            found.append(OutcomeCount(OTHER, self.other, self.other_grade,
                                      f"more than {MAX_OUTCOMES} distinct outcomes; the rest are counted here"))
        return tuple(sorted(found, key=lambda entry: (-entry.count, entry.outcome)))


def _build(test: StressTest, count: int) -> List[Any]:
    cls = test.cls
    try:
        return [cls() for _ in range(count)]
    except Exception as error:
        raise StressError(f"{test.title}: the state cannot be built: {type(error).__name__}: {error}") from None


def run_stress(test: StressTest, time_budget_s: float = DEFAULT_TIME_BUDGET_S, stride: int = DEFAULT_STRIDE,
               threads_per_actor: int = 1, switch_interval: Optional[float] = None,
               stride_timeout_s: float = STRIDE_TIMEOUT_S) -> StressResult:
    """Run ``test`` for ``time_budget_s`` (at least one stride) and count every outcome.

    Raises StressError, before any actor runs, for a setting out of range or a state that cannot
    be built; an actor or arbiter that raises is not an error of the run: its sample's outcome
    is ``error`` and its first traceback is kept.
    """
    wrong = problems(StressSpec(test.name, None, time_budget_s, stride, threads_per_actor, switch_interval),
                     len(test.actors))
    if wrong:
        raise StressError(wrong[0])
    _build(test, 1)  # a state that cannot be built is said before any thread starts
    functions = [getattr(test.cls, name) for name in test.actors for _ in range(threads_per_actor)]
    arbiter = getattr(test.cls, "arbiter") if test.arbiter else None
    grader = Grader(test.declared, test.default)
    histogram = _Histogram(grader)
    errors: List[str] = []
    outs: List[Any] = [None] * len(functions)
    current = _Stride()
    barrier = threading.Barrier(len(functions) + 1)
    threads = [threading.Thread(target=_actor_thread, args=(slot, functions, current, barrier, outs, errors),
                                name=f"synclab-actor-{slot}", daemon=True) for slot in range(len(functions))]
    previous_interval = sys.getswitchinterval()
    gil_at_start = gil.is_enabled()
    gil_seen = gil_at_start
    strides = 0
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    for thread in threads:
        thread.start()
    try:
        started = time.perf_counter()
        while True:
            states = _build(test, stride)
            current.states, current.number = states, strides
            try:
                barrier.wait(stride_timeout_s)  # release the actors together
                barrier.wait(stride_timeout_s)  # every actor is done with the stride
            except threading.BrokenBarrierError:
                raise StressError(f"{test.title}: an actor did not finish a stride of {stride} states within "
                                  f"{stride_timeout_s:g} s") from None
            columns = list(outs)
            if arbiter is not None:
                columns.append(_apply(arbiter, states, errors))
            histogram.add(_count(columns))
            strides += 1
            gil_seen = gil_seen or gil.is_enabled()
            if time.perf_counter() - started >= time_budget_s:
                break
        seconds = time.perf_counter() - started
    finally:
        current.stop = True
        try:
            barrier.wait(1.0)  # let each thread see stop
        except threading.BrokenBarrierError:
            pass
        barrier.abort()
        for thread in threads:
            thread.join(1.0)
        sys.setswitchinterval(previous_interval)
    outcomes = histogram.entries()
    return StressResult(
        test=test.name,
        description=test.description,
        samples=strides * stride,
        strides=strides,
        stride=stride,
        threads_per_actor=threads_per_actor,
        time_budget_s=float(time_budget_s),
        seconds=seconds,
        outcomes=outcomes,
        declared=test.declared,
        default=test.default,
        error=errors[0] if errors else None,
        warnings=tuple(unreachable_keys(test.declared, [entry.outcome for entry in outcomes])),
        switch_interval=switch_interval,
        gil_enabled_at_start=gil_at_start,
        gil_enabled=gil_seen or gil.is_enabled(),
    )


def run_spec(spec: StressSpec, on_result: Optional[Callable[[StressResult], None]] = None) -> List[StressResult]:
    """Every test ``spec`` names, run in this process one after another."""
    wrong = problems(spec)
    if wrong:
        raise StressError(wrong[0])
    results = []
    for test in load(spec.target, spec.pattern):
        results.append(run_stress(test, spec.time_budget_s, spec.stride, spec.threads_per_actor, spec.switch_interval))
        if on_result is not None:
            on_result(results[-1])
    return results
