"""Whether two stress runs gave the same answer, test by test, for replay and compare.

Each test's outcome histogram is one side of verdict.decide, its samples counting as repeats do
for a balance job: an outcome whose rate differs beyond chance, a forbidden outcome on one side
only, another interpreter or GIL state, or a record its own numbers contradict make it differ;
it is reproduced only when the samples could have seen a change. Counts come from the judged
records (records.stressjudge), never from stored labels. The time budget does not make two runs
different experiments: it decides how many samples each took, which the test weighs.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from synclab.reports.report import StressJob
from synclab.reports.table import format_table
from synclab.reports.verdict import ALPHA, Counts, Decision, Verdict, decide, format_p, overall

# Keys that do not make two stress runs different experiments.
UNMATCHED_STRESS_KEYS = ("experiment", "time_budget_s")


@dataclass(frozen=True)
class TestComparison:
    test: str
    samples: Tuple[int, int]
    decision: Decision


@dataclass(frozen=True)
class StressComparison:
    job: str
    labels: Tuple[str, str]  # the two runs as shown
    tests: Tuple[TestComparison, ...]
    one_side_only: Tuple[str, ...]  # "A only: TEST": a test the other run did not have
    config_differences: Tuple[str, ...] = ()  # settings that make the two runs different experiments
    env_differences: Tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict:
        if self.config_differences:
            return Verdict.DIFFERS
        return overall([test.decision.verdict for test in self.tests], len(self.one_side_only))

    @property
    def reasons(self) -> Tuple[str, ...]:
        return (*self.config_differences, *(f"{test.test} {test.decision.verdict.value}: {reason}" for test in self.tests
                  for reason in test.decision.reasons), *self.one_side_only)


def stress_config(job: StressJob) -> Dict[str, Any]:
    return {key: value for key, value in job.config.items() if key not in UNMATCHED_STRESS_KEYS}


def config_differences(a: StressJob, b: StressJob) -> List[str]:
    config_a, config_b = stress_config(a), stress_config(b)
    return [f"config {key}: {config_a.get(key)!r} vs {config_b.get(key)!r}"
            for key in dict.fromkeys([*config_a, *config_b]) if config_a.get(key) != config_b.get(key)]


def counts(job: StressJob, test: Mapping[str, Any]) -> Counts:
    """One test of a judged stress run as the verdict reads it, its GIL state the test's own."""
    outcomes = {str(entry["outcome"]): int(entry["count"]) for entry in test["outcomes"] if int(entry["count"]) > 0}
    forbidden = tuple(str(entry["outcome"]) for entry in test["outcomes"]
                      if entry["grade"] == "forbidden" and int(entry["count"]) > 0)
    runtime: Optional[Dict[str, Any]] = None if job.runtime is None else {**job.runtime,
                                                                          "gil_enabled": test.get("gil_enabled")}
    return Counts(int(test["samples"]), outcomes, forbidden, len(job.inconsistencies), runtime, unit="samples")


def _short(test: str) -> str:
    return test.rpartition(":")[2]


def compare_stress(job: str, a: StressJob, b: StressJob, labels: Tuple[str, str], names: Tuple[str, str] = ("A", "B"),
                   alpha: float = ALPHA, env_differences: Sequence[str] = ()) -> StressComparison:
    """Every test the two runs share, each with its verdict; a test on one side only, or that took
    samples on one side only, makes the whole differ; one that took none on either is inconclusive."""
    waiting: Dict[str, List[Mapping[str, Any]]] = {}  # B's tests by name, a name listed twice paired in order
    for test in b.tests:
        waiting.setdefault(test["test"], []).append(test)
    compared, only = [], []
    for test in a.tests:
        other = waiting[test["test"]].pop(0) if waiting.get(test["test"]) else None
        if other is None:
            only.append(f"{names[0]} only: {_short(test['test'])}")
            continue
        if bool(test["samples"]) != bool(other["samples"]):  # ran on one side only
            only.append(f"{names[0] if not test['samples'] else names[1]}: {_short(test['test'])} took no samples")
            continue
        decision = decide(counts(a, test), counts(b, other), names, alpha)
        compared.append(TestComparison(_short(test["test"]), (int(test["samples"]), int(other["samples"])), decision))
    only += [f"{names[1]} only: {_short(test['test'])}" for left in waiting.values() for test in left]
    return StressComparison(job, labels, tuple(compared), tuple(only), tuple(config_differences(a, b)),
                            tuple(env_differences))


def format_stress_pair(c: StressComparison, names: Tuple[str, str] = ("A", "B")) -> str:
    """Two stress runs side by side: per test its samples, then each outcome's count on both sides
    with its exact test; then the verdict with its reasons."""
    rows: List[List[str]] = []
    for test in c.tests:
        rows.append([test.test, "", "", ""])
        rows.append(["  samples", f"{test.samples[0]:,}", f"{test.samples[1]:,}", ""])
        for outcome in test.decision.tests:
            rows.append([f"  {outcome.outcome}", f"{outcome.count_a:,}", f"{outcome.count_b:,}",
                         f"p = {format_p(outcome.p_value)}"])
    lines = [f"{names[0]}: {c.labels[0]}", f"{names[1]}: {c.labels[1]}", ""]
    if rows:
        lines.append(format_table(["test", names[0], names[1], ""], rows, left=1, rule=False))
    lines.append(f"verdict: {c.verdict.value}")
    lines.extend(f"  - {reason}" for reason in c.reasons)
    if c.env_differences:
        lines.append("environment differences:")
        lines.extend(f"  - {item}" for item in c.env_differences)
    return "\n".join(lines) + "\n"


__all__ = ["StressComparison", "TestComparison", "compare_stress", "config_differences", "format_stress_pair", "stress_config"]
