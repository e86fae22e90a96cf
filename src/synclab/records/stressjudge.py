"""The judge of a stress run's result.json (schema 4, ``workload: stress``; its format is
records.resultfile's): its grades, statuses, sample counts and rates are claims, re-derived from
the counts and the stored declaration (the test's outcome keys and default grade), and every
claim that disagrees is named in one line. A field that cannot be read makes the record Unusable.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from synclab.kernel.outcome import GRADES
from synclab.kernel.stress.api import Declared
from synclab.kernel.stress.grading import OTHER, Grader
from synclab.records.files import RESULT
from synclab.records.judge import Unusable, malformed, read_integer, read_label, read_seconds
from synclab.records.resultfile import gil_at_any_point, workload

MAX_TESTS = 10_000  # tests one stress run may hold
MAX_OUTCOMES = 1_001  # outcomes per test: the engine keeps 1000 and one bucket for the rest


@dataclass(frozen=True)
class JudgedOutcome:
    outcome: str
    count: int
    grade: str  # as the declaration grades it
    description: str
    claimed_grade: Optional[str]


@dataclass(frozen=True)
class JudgedTest:
    test: str
    description: str
    samples: int
    seconds: Optional[float]
    samples_per_s: Optional[float]  # derived from samples and seconds
    stride: Optional[int]
    outcomes: Tuple[JudgedOutcome, ...]  # most often seen first
    status: str  # the worst grade seen
    gil_enabled: Optional[bool]
    warnings: Tuple[str, ...]
    error: Optional[str]
    time_budget_s: Optional[float] = None  # the budget the samples were taken in, where the record says

    def to_dict(self) -> Dict[str, Any]:
        """In StressResult.to_dict's shape, with the judged grades: what reports.histogram prints."""
        return {
            "test": self.test, "description": self.description, "samples": self.samples, "seconds": self.seconds,
            "samples_per_s": self.samples_per_s, "stride": self.stride, "gil_enabled": self.gil_enabled,
            "outcomes": [{"outcome": o.outcome, "count": o.count, "grade": o.grade, "description": o.description}
                         for o in self.outcomes],
            "warnings": list(self.warnings), "error": self.error, "time_budget_s": self.time_budget_s,
        }


@dataclass(frozen=True)
class StressJudgement:
    config: Dict[str, Any]
    tests: Tuple[JudgedTest, ...]
    inconsistencies: Tuple[str, ...]
    gil_enabled: Optional[bool]


def _text(holder: Mapping[str, Any], key: str, where: str, optional: bool = False) -> Optional[str]:
    value = read_label(holder, key, where)
    if value is None and not optional:
        raise malformed(where + key, value, "a string")
    return value


def _bool(holder: Mapping[str, Any], key: str, where: str) -> Optional[bool]:
    value = holder.get(key)
    if value is not None and type(value) is not bool:
        raise malformed(where + key, value, "true, false or null")
    return value


def _declared(test: Mapping[str, Any], where: str) -> Tuple[List[Declared], str]:
    entries = test.get("declared")
    if not isinstance(entries, list):
        raise malformed(where + "declared", entries, "a list")
    declared = []
    for index, entry in enumerate(entries):
        inner = f"{where}declared[{index}]."
        if type(entry) is not dict:
            raise malformed(inner[:-1], entry, "an object")
        grade = _text(entry, "grade", inner)
        if grade not in GRADES:
            raise malformed(inner + "grade", grade, " | ".join(GRADES))
        regex = entry.get("regex")
        if type(regex) is not bool:
            raise malformed(inner + "regex", regex, "true or false")
        key = _text(entry, "key", inner)
        if regex:
            import re

            try:
                re.compile(key)  # type: ignore[arg-type]
            except (re.error, RecursionError, OverflowError):
                raise malformed(inner + "key", key, "a regular expression") from None
        declared.append(Declared(key, regex, grade, _text(entry, "description", inner) or ""))  # type: ignore[arg-type]
    default = _text(test, "default", where)
    if default not in GRADES:
        raise malformed(where + "default", default, " | ".join(GRADES))
    return declared, default  # type: ignore[return-value]


def _judge_test(test: Any, index: int, problems: List[str]) -> JudgedTest:
    where = f"tests[{index}]."
    if type(test) is not dict:
        raise malformed(f"tests[{index}]", test, "an object")
    name = _text(test, "test", where)
    samples = read_integer(test, "samples", where, low=0)
    seconds = read_seconds(test, "seconds", where)
    declared, default = _declared(test, where)
    grader = Grader(declared, default)
    entries = test.get("outcomes")
    if not isinstance(entries, list) or len(entries) > MAX_OUTCOMES:
        raise malformed(where + "outcomes", entries, f"a list of at most {MAX_OUTCOMES} outcomes")
    judged: List[JudgedOutcome] = []
    said: List[str] = []
    seen_texts = set()
    for position, entry in enumerate(entries):
        inner = f"{where}outcomes[{position}]."
        if type(entry) is not dict:
            raise malformed(inner[:-1], entry, "an object")
        text = _text(entry, "outcome", inner)
        count = read_integer(entry, "count", inner, low=1)
        claimed = _text(entry, "grade", inner, optional=True)
        if text in seen_texts:
            said.append(f"outcome {text!r} listed twice")
        seen_texts.add(text)
        grade, description = grader.grade(text)  # type: ignore[arg-type]
        if text == OTHER and claimed in GRADES:
            grade = claimed  # the engine's bucket: graded as the worst of what it counts, not re-derivable
        if claimed is not None and claimed != grade:
            said.append(f"outcome {text!r} graded {claimed}, its declaration says {grade}")
        judged.append(JudgedOutcome(text, count, grade, description, claimed))  # type: ignore[arg-type]
    total = sum(entry.count for entry in judged)
    if total != samples:
        said.append(f"its outcome counts add up to {total:,}, it claims {samples:,} samples")
    strides, stride = test.get("strides"), test.get("stride")
    if type(strides) is int and type(stride) is int and strides * stride != samples:
        said.append(f"{strides} strides of {stride} are {strides * stride:,} samples, it claims {samples:,}")
    rate = samples / seconds if seconds else None
    claimed_rate = test.get("samples_per_s")
    if claimed_rate is not None and (rate is None or not isinstance(claimed_rate, (int, float))
                                     or isinstance(claimed_rate, bool) or abs(claimed_rate - rate) > max(1.0, rate * 1e-3)):
        said.append(f"samples_per_s {claimed_rate!r}, its samples and seconds say "
                    f"{'none' if rate is None else format(rate, ',.1f')}")
    warnings = test.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise malformed(where + "warnings", warnings, "a list of strings")
    problems.extend(f"{name}: {line}" for line in said)
    ordered = tuple(sorted(judged, key=lambda entry: (-entry.count, entry.outcome)))
    status = next((g for g in ("forbidden", "interesting") if any(o.grade == g for o in ordered)), "acceptable")
    return JudgedTest(name, _text(test, "description", where, optional=True) or "", samples, seconds,  # type: ignore[arg-type]
                      None if rate is None else round(rate, 1), stride if type(stride) is int else None, ordered,
                      status, _bool(test, "gil_enabled", where), tuple(warnings), _text(test, "error", where, optional=True),
                      read_seconds(test, "time_budget_s", where) if "time_budget_s" in test else None)


def judge_stress(data: Any) -> StressJudgement:
    """Judge a parsed stress result.json (its schema_version already read as 4 or later);
    raise Unusable naming the first field that cannot be read."""
    if type(data) is not dict:
        raise Unusable(f"malformed {RESULT}: not a JSON object")
    if workload(data) != "stress":
        raise Unusable(f"{RESULT} is not a stress run's (its workload reads {workload(data)!r})")
    config, tests = data.get("config"), data.get("tests")
    if type(config) is not dict:
        raise Unusable(f"malformed {RESULT}: no config object")
    if not isinstance(tests, list) or not tests:
        raise Unusable(f"malformed {RESULT}: no tests list" if not isinstance(tests, list) else f"{RESULT} records no tests")
    if len(tests) > MAX_TESTS:
        raise Unusable(f"malformed {RESULT}: more than {MAX_TESTS} tests")
    problems: List[str] = []
    judged = tuple(_judge_test(test, index, problems) for index, test in enumerate(tests))
    names = [test.test for test in judged]
    problems.extend(f"{name}: test listed {names.count(name)} times" for name in dict.fromkeys(names)
                    if names.count(name) > 1)
    states = [test.gil_enabled for test in judged]
    enabled = gil_at_any_point(states)
    record = data.get("gil")
    if type(record) is dict:
        claimed = _bool(record, "enabled", "gil.")
        if claimed is False and enabled is not False:
            problems.append("claims the GIL was disabled throughout; a test ran with it"
                            if enabled else "claims the GIL was disabled throughout; a test's GIL state is not known")
    interpreter = data.get("interpreter")
    if type(interpreter) is dict:
        claimed = _bool(interpreter, "gil_enabled", "interpreter.")
        if claimed is False and enabled is not False:
            problems.append("interpreter.gil_enabled claims false; a test ran with the GIL or in a state not known")
    return StressJudgement(config, judged, tuple(problems), enabled)
