"""Whether two jobs gave the same answer: ``reproduced``, ``differs`` or ``inconclusive``, each
with the evidence that earns it, for compare and replay.

- ``differs``: the two are not the same experiment (a setting, the interpreter, its GIL state or
  the start method differs), a record contradicts its own numbers, an outcome graded forbidden
  appears on one side only, or an outcome's rate differs beyond chance (Fisher's exact test per
  outcome; with more than two outcomes in play, at alpha divided by their number: Bonferroni).
- ``reproduced``: none of that, and the repeats had the power to see a change: for every outcome
  seen, its count on the side that showed it more often, against none on the other side, would
  have been significant. Agreement by too few repeats to disagree is not agreement.
- ``inconclusive``: otherwise, with about how many repeats a side would settle it.
"""

import enum
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from synclab.reports.stats import (MAX_SUGGESTED_REPEATS, SUGGESTED_POWER, fisher_exact, repeats_to_tell_from_never,
                    samples_to_tell_from_never, tells_from_never)

ALPHA = 0.05
# What makes two runs different experiments, with the name a reason gives it.
RUNTIME_KEYS = (("implementation", "implementation"), ("version", "Python version"),
                ("free_threaded", "free-threaded build"), ("gil_enabled", "GIL enabled"),
                ("start_method", "start method"))


class Verdict(str, enum.Enum):
    REPRODUCED = "reproduced"
    DIFFERS = "differs"
    INCONCLUSIVE = "inconclusive"


EXIT_CODES = {Verdict.REPRODUCED: 0, Verdict.DIFFERS: 1, Verdict.INCONCLUSIVE: 3}
EXIT_HELP = """\
verdicts, per job and for the whole:
  reproduced    no forbidden outcome on one side only, no outcome's rate differs (Fisher's
                exact test at --alpha), and the repeats could have seen a change: each outcome's
                count, against none on the other side, would have been significant
  differs       a setting, the interpreter, its GIL state or the start method differs; a record
                contradicts its own numbers; a forbidden outcome is on one side only; or an
                outcome's rate differs beyond chance
  inconclusive  otherwise; the reason says about how many repeats a side would settle it

exit status: 0 reproduced, 1 differs, 3 inconclusive, 2 usage or configuration error"""


@dataclass(frozen=True)
class Counts:
    """One side of a comparison as the verdict reads it: the judged outcome histogram."""

    repeats: int
    outcomes: Mapping[str, int]
    forbidden: Tuple[str, ...]
    inconsistencies: int = 0
    runtime: Optional[Mapping[str, Any]] = None  # implementation, version, free_threaded, gil_enabled, start_method
    unit: str = "repeats"  # what ``repeats`` counts: a balance job's repeats, or a stress test's samples


@dataclass(frozen=True)
class OutcomeTest:
    """One outcome's rate on both sides, its exact test, and whether the repeats could see it vanish."""

    outcome: str
    count_a: int
    count_b: int
    p_value: float
    significant: bool
    telling: bool  # the larger rate, against none on the other side, would have been significant
    rate: float  # the larger of the two rates


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: Tuple[str, ...]  # one line each: why this verdict, with the counts that earn it
    tests: Tuple[OutcomeTest, ...]
    alpha: float  # the level each outcome was tested at

    @property
    def p_value(self) -> Optional[float]:
        """The smallest per-outcome p-value: the strongest evidence of a difference."""
        return min((test.p_value for test in self.tests), default=None)


def _fraction(count: int, repeats: int) -> str:
    return f"{count}/{repeats}"


def format_p(p: float, below: Optional[float] = None) -> str:
    """A p-value as every comparison prints it: two significant digits below 0.01, else two
    decimals; given ``below`` (the level it is significant at), as many more digits as it takes
    for the printed value to be below it too, never "p = 0.05 < 0.05"."""
    shown = f"{p:.2g}" if p < 0.01 else f"{p:.2f}".rstrip("0").rstrip(".") if p < 1 else "1"
    digits = 3
    while below is not None and p < below and float(shown) >= below and digits <= 12:
        shown, digits = f"{p:.{digits}g}", digits + 1
    return shown


def _major_minor(version: Any) -> Any:
    return ".".join(version.split(".")[:2]) if isinstance(version, str) else version


def runtime_differences(a: Optional[Mapping[str, Any]], b: Optional[Mapping[str, Any]],
                        names: Tuple[str, str]) -> List[str]:
    """What makes two runs different experiments: another implementation, major.minor version,
    build, GIL state or start method. A side that did not record one is not a difference."""
    if a is None or b is None:
        return []
    found = []
    for key, label in RUNTIME_KEYS:
        left, right = a.get(key), b.get(key)
        if key == "version":
            left, right = _major_minor(left), _major_minor(right)
        if left is not None and right is not None and left != right:
            found.append(f"{label}: {names[0]} {_shown(left)}, {names[1]} {_shown(right)}: not the same experiment")
    return found


def _shown(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def outcome_tests(a: Counts, b: Counts, alpha: float) -> Tuple[List[OutcomeTest], float]:
    """Fisher's exact test of each outcome's rate, and the level each is tested at."""
    seen = list(dict.fromkeys([*a.outcomes, *b.outcomes]))
    level = alpha / len(seen) if len(seen) > 2 else alpha  # two outcomes are one question asked twice
    tests = []
    for outcome in seen:
        ca, cb = a.outcomes.get(outcome, 0), b.outcomes.get(outcome, 0)
        p = fisher_exact(ca, a.repeats - ca, cb, b.repeats - cb)
        if ca / a.repeats >= cb / b.repeats:
            telling, rate = tells_from_never(ca, a.repeats, b.repeats, level), ca / a.repeats
        else:
            telling, rate = tells_from_never(cb, b.repeats, a.repeats, level), cb / b.repeats
        tests.append(OutcomeTest(outcome, ca, cb, p, p < level, telling, rate))
    return tests, level


def _questions(tests: Sequence[OutcomeTest]) -> Sequence[OutcomeTest]:
    """The tests a reason needs: with two outcomes, each one's rate is the other's mirror, so one
    speaks for both: the one that is not ``consistent``, else (a stress test's two outcomes) the
    rarer, whose rate is the one the samples may be too few to tell from 0."""
    if len(tests) == 2:
        others = [test for test in tests if test.outcome != "consistent"]
        return [others[0] if len(others) == 1 else min(tests, key=lambda test: test.rate)]
    return tests


def _suggestion(rate: float, level: float, unit: str = "repeats") -> str:
    if unit != "repeats":  # a stress test's samples: as many as its time budget allows
        return f"about {samples_to_tell_from_never(rate, level):,} {unit} a side would tell a rate of {rate:.2g} from 0"
    needed = repeats_to_tell_from_never(rate, level)
    if needed is None:
        return f"more than {MAX_SUGGESTED_REPEATS} repeats a side would be needed to tell a rate of {rate:.2g} from 0"
    return f"about {needed} repeats a side would tell a rate of {rate:.2g} from 0"


def decide(a: Counts, b: Counts, names: Tuple[str, str] = ("A", "B"), alpha: float = ALPHA,
           config_differences: Sequence[str] = ()) -> Decision:
    """The verdict on two jobs, with one line per reason."""
    tests, level = outcome_tests(a, b, alpha)
    differs = list(config_differences)
    differs += runtime_differences(a.runtime, b.runtime, names)
    for side, counts in zip(names, (a, b)):
        if counts.inconsistencies:
            differs.append(f"{side} holds a record its own numbers contradict ({counts.inconsistencies} claim"
                           f"{'s' * (counts.inconsistencies != 1)}; `synclab report` lists them)")
    for side, here, there, other in ((names[0], a, b, names[1]), (names[1], b, a, names[0])):
        for outcome in here.forbidden:
            if not there.outcomes.get(outcome):
                differs.append(f"forbidden outcome {outcome} in {side} only: {side} "
                               f"{_fraction(here.outcomes.get(outcome, 0), here.repeats)}, "
                               f"{other} {_fraction(0, there.repeats)}")
    for test in _questions(tests):
        if test.significant:
            differs.append(f"{test.outcome}: {names[0]} {_fraction(test.count_a, a.repeats)}, {names[1]} "
                           f"{_fraction(test.count_b, b.repeats)}: Fisher exact p = {format_p(test.p_value, level)} "
                           f"< {level:.3g}")
    if differs:
        return Decision(Verdict.DIFFERS, tuple(differs), tuple(tests), level)
    if not tests:  # nothing seen on either side: no evidence of a change, none that one would show
        return Decision(Verdict.INCONCLUSIVE, (f"no outcome on either side ({a.repeats} against {b.repeats} {a.unit}): "
                                               "nothing to tell the two apart by",), (), level)
    weak = [test for test in _questions(tests) if not test.telling]
    if weak:
        reasons = []
        for test in weak:
            reasons.append(f"{test.outcome}: {names[0]} {_fraction(test.count_a, a.repeats)}, {names[1]} "
                           f"{_fraction(test.count_b, b.repeats)}: p = {format_p(test.p_value)}; "
                           f"{a.repeats} against {b.repeats} {a.unit} could not tell a rate of {test.rate:.2g} "
                           f"from 0 at {level:.3g}; {_suggestion(test.rate, level, a.unit)}")
        return Decision(Verdict.INCONCLUSIVE, tuple(reasons), tuple(tests), level)
    reasons = [f"{test.outcome}: {names[0]} {_fraction(test.count_a, a.repeats)}, {names[1]} "
               f"{_fraction(test.count_b, b.repeats)}: p = {format_p(test.p_value)}, and a rate of {test.rate:.2g} "
               f"against 0 would have been significant at {level:.3g}" for test in _questions(tests)]
    return Decision(Verdict.REPRODUCED, tuple(reasons), tuple(tests), level)


def overall(verdicts: Sequence[Verdict], unmatched: int = 0) -> Verdict:
    """A whole comparison: differs if any job differs or has no counterpart, else inconclusive if
    any job is, else reproduced."""
    if unmatched or Verdict.DIFFERS in verdicts:
        return Verdict.DIFFERS
    if Verdict.INCONCLUSIVE in verdicts or not verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.REPRODUCED


__all__ = ["ALPHA", "EXIT_CODES", "Counts", "Decision", "OutcomeTest", "SUGGESTED_POWER", "Verdict", "decide", "format_p",
           "outcome_tests", "overall", "runtime_differences"]
