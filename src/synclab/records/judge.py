"""One judge of a stored result: every reader re-derives each repeat's outcome and grade from the
repeat's own numbers, with the runner's own classification and the run's recorded grading rules.

A result.json may come from an older synclab, a bug, a hand edit or someone else's machine, so
its ``outcome``, ``grade``, ``grading`` and ``summary`` are claims to check, never inputs. What
the numbers say is what a report counts; a claim that disagrees makes the record inconsistent,
named in one line. A record whose numbers are missing or of the wrong type cannot be judged at
all: ``Unusable``, with the field named.
"""

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from synclab.kernel.outcome import GRADES, OUTCOMES, classify, grade_table
from synclab.records.files import RESULT
from synclab.records.resultfile import summarize
from synclab.kernel.spec import DIRECTIONS, ExperimentSpec, shorten

# Integers a result may hold: far beyond any balance or count synclab produces, small enough that
# every statistic over them stays a finite float.
MAX_MAGNITUDE = 2**63
MAX_MODULES = 1000  # module names a gil record may list


class Unusable(ValueError):
    """A result that cannot be judged; the message is the reason shown under 'skipped'."""


@dataclass(frozen=True)
class JudgedRepeat:
    """One repeat as its numbers say it went (the attribute names are results.RepeatResult's)."""

    repeat: int
    outcome: str
    grade: str
    drift: Optional[int]
    ops_per_s: Optional[float]
    claimed_outcome: Optional[str]
    claimed_grade: Optional[str]


@dataclass(frozen=True)
class Judgement:
    grading: Dict[str, str]  # the run's rules: its lock's defaults under its `grades` settings
    runs: Tuple[JudgedRepeat, ...]
    inconsistencies: Tuple[str, ...]  # one line per claim the numbers contradict
    # the GIL as the repeats recorded it (schema 3): on if it was on at any point, off only if
    # it was off throughout; None when the record does not say
    gil_enabled: Optional[bool] = None


def malformed(where: str, value: Any, wanted: str) -> Unusable:
    return Unusable(f"malformed {RESULT}: {where} is {shorten(repr(value), 60)}, not {wanted}")


# Each reader below takes ``within``, the path of the mapping its key is read from ("runs[3]."):
# the full name of a field is only spelled out when a message needs it.
def read_integer(holder: Mapping[str, Any], key: str, within: str, low: int = -MAX_MAGNITUDE,
             optional: bool = False) -> Optional[int]:
    if key not in holder:
        if optional:
            return None
        raise Unusable(f"malformed {RESULT}: {within}{key} is missing")
    value = holder[key]
    if value is None and optional:
        return None
    if type(value) is not int or not low <= value <= MAX_MAGNITUDE:
        raise malformed(within + key, value, f"an integer >= {low}" if low > -MAX_MAGNITUDE else "an integer")
    return value


def read_seconds(holder: Mapping[str, Any], key: str, within: str) -> Optional[float]:
    if key not in holder:
        raise Unusable(f"malformed {RESULT}: {within}{key} is missing")
    value = holder[key]
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or not 0 <= value <= MAX_MAGNITUDE:
        raise malformed(within + key, value, "a finite number of seconds >= 0")
    return float(value)


def read_label(holder: Mapping[str, Any], key: str, within: str) -> Optional[str]:
    value = holder.get(key)
    if value is not None and type(value) is not str:
        raise malformed(within + key, value, "a string")
    return value


def grading_of(config: Mapping[str, Any]) -> Dict[str, str]:
    """The grading rules a run recorded: its lock's defaults, under its own ``grades`` settings."""
    lock = config.get("lock")
    if type(lock) is not str:
        raise malformed("config.lock", lock, "a lock name")
    custom = config.get("grades")
    if custom is not None and not isinstance(custom, dict):
        raise malformed("config.grades", custom, "a mapping of outcome to grade")
    overrides = {}
    for outcome, grade in (custom or {}).items():
        if grade is None:
            continue
        if outcome not in OUTCOMES or grade not in GRADES:
            raise malformed(f"config.grades.{outcome}", grade, f"one of {', '.join(GRADES)} for an outcome of synclab")
        overrides[outcome] = grade
    return grade_table(lock, overrides)


def _spec(config: Mapping[str, Any]) -> ExperimentSpec:
    """The settings that fix what every repeat must end with."""
    numbers = {key: read_integer(config, key, "config.", low=1 if key != "initial" else -MAX_MAGNITUDE)
               for key in ("workers", "times", "amount", "initial")}
    direction = config.get("direction", "both")
    if direction not in DIRECTIONS:
        raise malformed("config.direction", direction, f"one of {', '.join(DIRECTIONS)}")
    return ExperimentSpec(direction=direction, **numbers)  # type: ignore[arg-type]


def _derived_rate(ops_done: int, work_s: Optional[float]) -> Optional[float]:
    return ops_done / work_s if work_s and ops_done else None


def _rate_agrees(claimed: Any, ops_done: int, work_s: Optional[float]) -> bool:
    """The stored ops_per_s against ops_done / work_s, allowing for work_s kept to 6 decimals."""
    if claimed is None or work_s is None or not ops_done:
        return claimed is None or not ops_done
    if type(claimed) not in (int, float) or not math.isfinite(claimed):
        return False
    if work_s <= 5e-7:
        return claimed >= ops_done / 1e-6
    low, high = ops_done / (work_s + 5.01e-7), ops_done / (work_s - 5.01e-7)
    return low - 0.051 <= claimed <= high + 0.051


def _describe(outcome: Optional[str], grade: Optional[str]) -> str:
    parts = [f"outcome {outcome}" if outcome is not None else None, f"grade {grade}" if grade is not None else None]
    return ", ".join(part for part in parts if part)


def judge_result(data: Mapping[str, Any], schema_version: int) -> Judgement:
    """Judge a parsed result.json; raise Unusable naming the first field that cannot be read."""
    config, runs = data.get("config"), data.get("runs")
    if not isinstance(config, dict):
        raise Unusable(f"malformed {RESULT}: no config object")
    if not isinstance(runs, list):
        raise Unusable(f"malformed {RESULT}: no runs list")
    if not runs:
        raise Unusable(f"{RESULT} records no repeats")
    grading = grading_of(config)
    spec = _spec(config)
    expected, ops_expected = spec.expected, spec.ops_expected  # computed once, not per repeat
    problems: List[str] = []
    judged: List[JudgedRepeat] = []
    gil_states: List[Optional[bool]] = []
    for index, run in enumerate(runs):
        within = f"runs[{index}]."
        if type(run) is not dict:
            raise malformed(f"runs[{index}]", run, "an object")
        before = read_integer(run, "before", within)
        after = read_integer(run, "after", within, optional=True)
        if "after" not in run:
            raise Unusable(f"malformed {RESULT}: {within}after is missing")
        ops_reported = read_integer(run, "ops_reported", within, low=0)
        ops_done = read_integer(run, "ops_done", within, low=0)
        failed = read_integer(run, "failed_workers", within, low=0)
        work_s = read_seconds(run, "work_s", within)
        claimed_outcome = read_label(run, "outcome", within)
        claimed_grade = read_label(run, "grade", within)
        if schema_version >= 2:
            timed_out = run.get("timed_out")
            if type(timed_out) is not bool:
                raise malformed(within + "timed_out", timed_out, "true or false")
        else:  # schema 1 kept no timeout flag: its outcome is the only word on it
            timed_out = claimed_outcome == "timeout"
        if schema_version >= 3:
            state = run.get("gil_enabled")
            if state is not None and type(state) is not bool:
                raise malformed(within + "gil_enabled", state, "true, false or null")
            gil_states.append(state)
        outcome = classify(expected=expected, after=after, ops_expected=ops_expected,
                           ops_reported=ops_reported, ops_done=ops_done,  # type: ignore[arg-type]
                           failed_workers=failed, timed_out=timed_out)  # type: ignore[arg-type]
        grade = grading[outcome]
        drift = None if after is None else after - expected
        rate = _derived_rate(ops_done, work_s)  # type: ignore[arg-type]
        judged.append(JudgedRepeat(index, outcome, grade, drift, rate, claimed_outcome, claimed_grade))

        said = []
        if claimed_outcome is not None and claimed_outcome != outcome:
            said.append(f"outcome {claimed_outcome}")
        if claimed_grade is not None and claimed_grade != grade:
            said.append(f"grade {claimed_grade}")
        for key, truth in (("repeat", index), ("expected", expected), ("ops_expected", ops_expected),
                           ("drift", drift)):
            if key in run and run[key] != truth:
                said.append(f"{key} {run[key]!r}")
        if before != spec.initial:
            said.append(f"before {before!r} (the experiment starts from {spec.initial})")
        if "ops_per_s" in run and not _rate_agrees(run["ops_per_s"], ops_done, work_s):  # type: ignore[arg-type]
            said.append(f"ops_per_s {run['ops_per_s']!r}")
        if said:
            problems.append(f"repeat {index} claims {', '.join(said)}; its numbers say "
                            f"{_describe(outcome, grade)}" + (f", drift {drift}" if drift is not None else ""))

    problems.extend(_check_grading(data.get("grading"), grading, config))
    repeats = config.get("repeats")
    if type(repeats) is int and repeats != len(runs):
        problems.append(f"records {len(runs)} repeats, its configuration asks for {repeats}")
    problems.extend(_check_summary(data.get("summary"), judged, runs))
    gil_enabled = None
    if schema_version >= 3:
        gil_enabled, said = _check_gil(data, gil_states)
        problems.extend(said)
    return Judgement(grading, tuple(judged), tuple(problems), gil_enabled)


def _check_gil(data: Mapping[str, Any], states: Sequence[Optional[bool]]) -> Tuple[Optional[bool], List[str]]:
    """The GIL state the repeats prove, and the claims of the run's gil and interpreter records
    that contradict it: a run that says "GIL disabled" while a repeat ran with it is inconsistent."""
    record = data.get("gil")
    if not isinstance(record, dict):
        raise malformed("gil", record, "an object")
    for key in ("enabled_at_start", "enabled", "came_back"):
        if record.get(key) is not None and type(record.get(key)) is not bool:
            raise malformed(f"gil.{key}", record.get(key), "true, false or null")
    modules = record.get("reenabled_by", [])
    if not (isinstance(modules, list) and len(modules) <= MAX_MODULES and all(type(m) is str for m in modules)):
        raise malformed("gil.reenabled_by", modules, f"a list of at most {MAX_MODULES} module names")
    at_start = record.get("enabled_at_start")
    seen = [at_start, *states]
    truth = True if True in seen else (None if None in seen else False)
    came_back = at_start is False and True in states
    said = []
    if record.get("enabled") != truth:
        said.append(f"gil.enabled {_short(record.get('enabled'))}")
    if record.get("came_back") != came_back:
        said.append(f"gil.came_back {_short(record.get('came_back'))}")
    if modules and truth is False:
        said.append(f"gil.reenabled_by {_short(modules)}")
    interpreter = data.get("interpreter")
    claimed = interpreter.get("gil_enabled") if isinstance(interpreter, dict) else None
    if truth is not None and claimed is not None and (type(claimed) is not bool or claimed != truth):
        said.append(f"interpreter.gil_enabled {_short(claimed)}")
    if not said:
        return truth, []
    first_on = next((index for index, state in enumerate(states) if state), None)
    facts = ("the GIL was on from the start" if at_start else
             f"repeat {first_on} ran with the GIL" if first_on is not None else
             "no repeat ran with the GIL" if truth is False else "the GIL's state is not known for every repeat")
    return truth, [f"claims {', '.join(said)}; {facts}"]


def _check_grading(claimed: Any, grading: Mapping[str, str], config: Mapping[str, Any]) -> List[str]:
    if claimed is None:
        return []
    if not isinstance(claimed, dict):
        return [f"grading is {type(claimed).__name__}, not the table of its rules"]
    wrong = [f"{outcome}={claimed[outcome]}" for outcome in claimed if grading.get(outcome) != claimed[outcome]]
    if not wrong:
        return []
    rules = ", ".join(f"{outcome}={grading[outcome]}" for outcome in OUTCOMES if outcome in grading)
    return [f"grading claims {', '.join(wrong)}; the rules for lock={config.get('lock')} and its grades settings "
            f"say {rules}"]


def _close(claimed: Any, truth: Optional[float], tolerance: float) -> bool:
    if truth is None or claimed is None:
        return truth is None and claimed is None
    if type(claimed) not in (int, float) or not math.isfinite(claimed):
        return False
    return abs(claimed - truth) <= tolerance + 1e-9 * abs(truth)


def _check_summary(claimed: Any, judged: Sequence[JudgedRepeat], runs: Sequence[Mapping[str, Any]]) -> List[str]:
    """A stated summary against the one its repeats give: every sum recomputed, none copied."""
    if claimed is None:
        return []
    if not isinstance(claimed, dict):
        return [f"summary is {type(claimed).__name__}, not an object"]
    # the stored per-repeat rates (each checked against its own numbers above) give the median
    stored_rates = [run.get("ops_per_s") for run in runs]
    usable = all(rate is None or type(rate) in (int, float) and math.isfinite(rate) for rate in stored_rates)
    truth = summarize([
        _Claimed(run.outcome, run.grade, run.drift, rate if usable else run.ops_per_s)  # type: ignore[arg-type]
        for run, rate in zip(judged, stored_rates)
    ])
    wrong = []
    for key, value in claimed.items():
        if key not in truth:
            continue
        if key in ("drift_mean", "drift_stdev"):
            agrees = _close(value, truth[key], 0.0011)
        elif key == "ops_per_s_median":
            agrees = _close(value, truth[key], 0.11)
        else:
            agrees = value == truth[key]
        if not agrees:
            wrong.append(f"{key} {_short(value)} (its repeats give {_short(truth[key])})")
    return [f"summary claims {'; '.join(wrong)}"] if wrong else []


def _short(value: Any) -> str:
    return shorten(repr(value), 80)


@dataclass(frozen=True)
class _Claimed:
    """A judged repeat with its stored rate, in the shape results.summarize reads."""

    outcome: str
    grade: str
    drift: Optional[int]
    ops_per_s: Optional[float]
