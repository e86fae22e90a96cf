"""result.json: the one place that knows its format. The document a run writes, its summary,
and the schema versions a reader accepts before judging it (records.judge checks every claim).

Format history of result.json (``schema_version``):

- 1: config, runs (the repeat's numbers and its outcome), summary; later versions of 1 add
  ``grading`` and each repeat's ``grade``, then ``overrides`` and ``host``.
- 2: every repeat also records ``timed_out``, so that a reader can derive its outcome from its
  numbers alone (judge.py); a schema 1 repeat's timeout is known only from its stored outcome.
  ``interpreter`` records what ran the loop (implementation, version, free_threaded,
  gil_enabled, start_method), which compare and replay match; before it, only env.json had it.
- 3: the ``gil`` setting in config; every repeat records ``gil_enabled`` (asked of the process
  whose threads ran the loop, null when not known), and ``gil`` what the GIL did over the run
  (``enabled_at_start``, ``enabled`` at any point, ``came_back``, ``reenabled_by``: the modules
  whose import turned it back on). ``interpreter.gil_enabled`` is ``gil.enabled``: a run claims
  "GIL disabled" only if no repeat ran with it.
- 4: ``workload``: ``balance`` (every earlier version's, the shape above) or ``stress``. A stress
  run's result.json holds ``config`` (its StressSpec and overrides), ``tests`` (each test's outcome
  histogram, samples, rate, its ``declared`` outcome keys and ``default`` grade: what its grades are
  re-derived from, by records.stressjudge), ``interpreter`` and ``gil`` (``enabled_at_start``,
  ``enabled``: on at any point of any test), and no ``runs``.
"""

import statistics
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence

from synclab.kernel.outcome import DRIFT_OUTCOMES, drift_stats, grade_table
from synclab.kernel.results import ExperimentResult

if TYPE_CHECKING:
    from synclab.kernel.stress.result import StressResult

SCHEMA_VERSION = 4
SCHEMA_VERSIONS = (1, 2, 3, 4)  # what this synclab reads
WORKLOADS = ("balance", "stress")  # schema 4's ``workload``; before it, every result is a balance one


def document(result: ExperimentResult) -> Dict[str, Any]:
    """What result.json holds for a run, before the job adds its overrides, host and interpreter."""
    return {
        "schema_version": SCHEMA_VERSION,
        "workload": "balance",
        "config": result.spec.to_dict(),
        "grading": grade_table(result.spec.lock, result.spec.grades),
        "runs": [asdict(run) for run in result.runs],
        "summary": summarize(result.runs),
        "gil": gil_record(result),
    }


def gil_at_any_point(states: Sequence[Optional[bool]]) -> Optional[bool]:
    """On if any state says on; off only if every one says off; None when one is not known."""
    return True if any(state is True for state in states) else (None if None in states else False)


def workload(data: Mapping[str, Any]) -> Any:
    """What a parsed result.json records: ``balance`` before schema 4; a reader checks the value."""
    version = data.get("schema_version")
    return data.get("workload") if type(version) is int and version >= 4 else "balance"


def stress_document(config: Mapping[str, Any], results: Sequence["StressResult"], interpreter: Mapping[str, Any]
                    ) -> Dict[str, Any]:
    """What result.json holds for a stress run; ``interpreter`` is kernel.env.interpreter_record's,
    its gil_enabled taken from what the tests saw."""
    at_start = results[0].gil_enabled_at_start if results else None
    states = [at_start] + [result.gil_enabled for result in results]
    enabled = gil_at_any_point(states)
    return {
        "schema_version": SCHEMA_VERSION,
        "workload": "stress",
        "config": dict(config),
        "tests": [result.to_dict() for result in results],
        "interpreter": {**interpreter, "gil_enabled": enabled},
        "gil": {"enabled_at_start": at_start, "enabled": enabled},
    }


def gil_record(result: ExperimentResult) -> Dict[str, Any]:
    """What the GIL did over a run: on at any point (a state that is not known counts as not
    proven off), and whether it came back on after starting off, and which imports did it."""
    states = [result.gil_at_start] + [run.gil_enabled for run in result.runs]
    enabled = gil_at_any_point(states)
    return {
        "enabled_at_start": result.gil_at_start,
        "enabled": enabled,
        "came_back": result.gil_at_start is False and any(run.gil_enabled is True for run in result.runs),
        "reenabled_by": list(result.gil_reenabled_by),
    }


def summarize(runs: Sequence[Any]) -> Dict[str, Any]:
    """Counts per outcome and the spread of drift and throughput over the repeats that have them.

    ``runs`` are RepeatResults, or anything with their outcome, grade, drift and ops_per_s:
    the readers recompute a stored summary with this same function.
    """
    outcomes: Dict[str, int] = {}
    grades: Dict[str, int] = {}
    for run in runs:
        outcomes[run.outcome] = outcomes.get(run.outcome, 0) + 1
        grades[run.grade] = grades.get(run.grade, 0) + 1
    drift = drift_stats([run.drift for run in runs if run.drift is not None and run.outcome in DRIFT_OUTCOMES])
    rates = [run.ops_per_s for run in runs if run.ops_per_s is not None]
    return {
        "repeats": len(runs),
        "outcomes": outcomes,
        "grades": grades,
        "forbidden": sorted({run.outcome for run in runs if run.grade == "forbidden"}),
        "drift_mean": None if drift.mean is None else round(drift.mean, 3),
        "drift_stdev": None if drift.stdev is None else round(drift.stdev, 3),
        "drift_min": drift.min,
        "drift_max": drift.max,
        "ops_per_s_median": round(statistics.median(rates), 1) if rates else None,
    }
